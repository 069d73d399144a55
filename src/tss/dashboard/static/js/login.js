// The login form: an API token in, a session out (the server sets its cookie).

import { api } from "./api.js";
import { h, put } from "./dom.js";

/** Draw the login form in `main` (with `message` above it); `onLogin(session)` once the server takes a token. */
export function showLogin(main, title, onLogin, message = "") {
  const input = h("input", {
    id: "token", name: "token", type: "password", autocomplete: "current-password",
    required: true, placeholder: "tss_…",
  });
  const error = h("p", { class: "error", role: "alert" }, message);
  const form = h("form", { class: "card login", onsubmit: async (e) => {
    e.preventDefault();
    try {
      onLogin(await api("/dashboard/login", { method: "POST", body: { token: input.value } }));
    } catch (err) {
      put(error, err.message);
    }
  } },
  h("h1", {}, `Log in to ${title}`),
  h("label", { for: "token" }, "API token"),
  input,
  h("p", { class: "muted small" },
    "Make one with: tss token create --name me --role operator"),
  h("button", { type: "submit", class: "primary" }, "Log in"),
  error);
  put(main, form);
  input.focus();
}

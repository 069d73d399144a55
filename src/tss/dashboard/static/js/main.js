// The dashboard's entry point: session, menu, routing by URL, and each page's context.

import { api, ApiError, configureLive, onLive, setSession, stopLive } from "./api.js";
import { config } from "./config.js";
import { base, h, put, setZone } from "./dom.js";

setZone(config.timezone);

const PAGES = [
  { id: "overview", label: "Overview", path: "" },
  { id: "jobs", label: "Jobs", path: "jobs" },
  { id: "runs", label: "Runs", path: "runs" },
  { id: "flows", label: "Flows", path: "flows" },
  { id: "timeline", label: "Timeline", path: "timeline" },
  { id: "workers", label: "Workers", path: "workers" },
  { id: "dead-letters", label: "Dead letters", path: "dead-letters" },
];
const ROLES = ["viewer", "operator", "admin"];
const main = document.getElementById("main");
const banner = document.getElementById("banner");
let session = null;
let cleanups = [];

function status(text, kind = "warn") {
  put(banner, text ? h("p", { class: `banner ${kind}` }, text) : null);
}
configureLive(config, (text) => status(text));

/** Which page a path shows, and its parameters. */
function resolve(pathname) {
  const rest = pathname.startsWith(base) ? pathname.slice(base.length).replace(/^\/+/, "") : "";
  const [first = "", ...more] = rest.split("/").map(decodeURIComponent);
  if (first === "jobs" && more[0]) return { page: "job", of: "jobs", id: more.join("/") };
  if (first === "runs" && more[0]) return { page: "run", of: "runs", id: more[0] };
  const found = PAGES.find((p) => p.path === first);
  return found ? { page: found.id, of: found.id } : { page: "missing", of: null };
}

function menu(current) {
  const nav = document.getElementById("nav");
  put(nav, h("ul", {}, PAGES.filter((p) => config.pages.includes(p.id)).map((p) =>
    h("li", {}, h("a", {
      href: p.path ? `${base}/${p.path}` : base,
      "data-link": true,
      "aria-current": p.id === current ? "page" : null,
    }, p.label)))));
  const who = document.getElementById("who");
  if (!session) return put(who);
  put(who,
    h("span", { class: "muted small" }, `${session.name} · ${session.role}`),
    session.auth ? h("button", { type: "button", class: "link", onclick: logout }, "Log out") : null);
}

/** Go to a dashboard URL without reloading. */
export function navigate(url, replace = false, state = null) {
  if (replace) history.replaceState(state, "", url);
  else history.pushState(state, "", url);
  render();
}

function context(params) {
  const ctx = {
    main, config, session, params, navigate,
    query: new URLSearchParams(location.search),
    /** The session's role is at least `role` (the server checks again). */
    can: (role) => ROLES.indexOf(session.role) >= ROLES.indexOf(role),
    /** Run `fn` on live events (debounced; `match(event)` filters), until the page changes. */
    live(fn, match = () => true, wait = 200) {
      let pending = null;
      const off = onLive((event) => {
        if (event && !match(event)) return;
        if (pending) return;
        pending = setTimeout(() => { pending = null; fn(event); }, wait);
      });
      cleanups.push(() => { off(); if (pending) clearTimeout(pending); });
    },
    /** Run `fn` every `seconds` until the page changes. */
    every(seconds, fn) {
      const id = setInterval(fn, seconds * 1000);
      cleanups.push(() => clearInterval(id));
    },
    onLeave(fn) { cleanups.push(fn); },
    /** Do an action, then say how it went in the banner. */
    async act(what, fn) {
      try {
        const out = await fn();
        status(`${what}: done`, "ok");
        return out;
      } catch (error) {
        status(`${what}: ${error.message}`, "error");
        return undefined;
      }
    },
    status,
  };
  return ctx;
}

const loaders = {
  overview: () => import("./pages/overview.js"),
  jobs: () => import("./pages/jobs.js"),
  job: () => import("./pages/job.js"),
  runs: () => import("./pages/runs.js"),
  run: () => import("./pages/run.js"),
  flows: () => import("./pages/flows.js"),
  timeline: () => import("./pages/timeline.js"),
  workers: () => import("./pages/workers.js"),
  "dead-letters": () => import("./pages/dead.js"),
};

async function render() {
  for (const fn of cleanups) fn();
  cleanups = [];
  const where = resolve(location.pathname);
  menu(where.of);
  if (!session) return;
  if (where.page === "missing" || !config.pages.includes(where.of)) {
    put(main, h("h1", {}, "Not here"),
      h("p", {}, "This page does not exist or is turned off in the configuration."));
    return;
  }
  const token = Symbol("render");
  render.current = token;
  try {
    const page = await loaders[where.page]();
    if (render.current !== token) return;
    await page.render(context(where));
    document.title = `${main.querySelector("h1")?.textContent || ""} · ${config.title}`;
  } catch (error) {
    if (error instanceof ApiError && error.status === 401) return showLogin();
    put(main, h("h1", {}, "Something went wrong"), h("p", { class: "error" }, error.message));
  }
}

function showLogin(message = "") {
  session = null;
  stopLive();
  menu(null);
  const input = h("input", {
    id: "token", name: "token", type: "password", autocomplete: "current-password",
    required: true, placeholder: "tss_…",
  });
  const error = h("p", { class: "error", role: "alert" }, message);
  const form = h("form", { class: "card login", onsubmit: async (e) => {
    e.preventDefault();
    try {
      session = await api("/dashboard/login", { method: "POST", body: { token: input.value } });
      setSession(session);
      status("");
      render();
    } catch (err) {
      put(error, err.message);
    }
  } },
  h("h1", {}, `Log in to ${config.title}`),
  h("label", { for: "token" }, "API token"),
  input,
  h("p", { class: "muted small" },
    "Make one with: tss token create --name me --role operator"),
  h("button", { type: "submit", class: "primary" }, "Log in"),
  error);
  put(main, form);
  input.focus();
}

async function logout() {
  await api("/dashboard/logout", { method: "POST" }).catch(() => null);
  showLogin("You are logged out.");
}

document.addEventListener("click", (event) => {
  const a = event.target.closest("a[data-link]");
  if (!a || event.defaultPrevented || event.button !== 0) return;
  if (event.metaKey || event.ctrlKey || event.shiftKey || event.altKey) return;
  event.preventDefault();
  document.getElementById("nav").classList.remove("open");
  navigate(a.getAttribute("href"));
});
window.addEventListener("popstate", render);
document.querySelector(".menu-toggle").addEventListener("click", (event) => {
  const open = document.getElementById("nav").classList.toggle("open");
  event.currentTarget.setAttribute("aria-expanded", String(open));
});

async function boot() {
  try {
    const found = await api("/dashboard/session");
    if (!found.logged_in) return showLogin();
    session = found;
    setSession(session);
    render();
  } catch (error) {
    put(main, h("p", { class: "error" }, `The server did not answer: ${error.message}`));
  }
}

boot();

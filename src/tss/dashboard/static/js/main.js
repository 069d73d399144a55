// The dashboard's entry point: the session, the menu, and drawing the page the URL shows
// (router.js), with its context (context.js); the login form is login.js.

import { api, ApiError, configureLive, setSession, stopLive } from "./api.js";
import { config } from "./config.js";
import { leavePage, pageContext, status } from "./context.js";
import { base, h, put, setZone } from "./dom.js";
import { showLogin } from "./login.js";
import { loaders, PAGES, resolve } from "./router.js";

setZone(config.timezone);
const main = document.getElementById("main");
let session = null;
configureLive(config, (text) => status(text));

function menu(current) {
  const nav = document.getElementById("nav");
  // A page for one role (the audit log: admins) is in the menu of that role only.
  const shows = (p) => config.pages.includes(p.id) && (!p.role || (session && session.role === p.role));
  put(nav, h("ul", {}, PAGES.filter(shows).map((p) =>
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

async function render() {
  leavePage();
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
    await page.render(pageContext({ main, config, session, params: where, navigate }));
    document.title = `${main.querySelector("h1")?.textContent || ""} · ${config.title}`;
  } catch (error) {
    if (error instanceof ApiError && error.status === 401) return loggedOut();
    put(main, h("h1", {}, "Something went wrong"), h("p", { class: "error" }, error.message));
  }
}

/** Show the login form; a login starts the session and draws the page the URL shows. */
function loggedOut(message = "") {
  session = null;
  stopLive();
  menu(null);
  showLogin(main, config.title, (started) => {
    session = started;
    setSession(session);
    status("");
    render();
  }, message);
}

async function logout() {
  await api("/dashboard/logout", { method: "POST" }).catch(() => null);
  loggedOut("You are logged out.");
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
    if (!found.logged_in) return loggedOut();
    session = found;
    setSession(session);
    render();
  } catch (error) {
    put(main, h("p", { class: "error" }, `The server did not answer: ${error.message}`));
  }
}

boot();

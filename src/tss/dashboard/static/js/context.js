// What a page gets: each page module exports `async render(ctx)`, which draws into
// `ctx.main` and may use the rest of `ctx` (below). Listeners and timers started through
// `ctx` stop when the viewer leaves the page.

import { onLive } from "./api.js";
import { h, put } from "./dom.js";

const ROLES = ["viewer", "operator", "admin"];
const banner = document.getElementById("banner");
let cleanups = [];

/** Say `text` in the banner above the page ("" clears it); `kind` is ok, warn or error. */
export function status(text, kind = "warn") {
  put(banner, text ? h("p", { class: `banner ${kind}` }, text) : null);
}

/** Stop what the page on show started (live listeners, timers): it is being left. */
export function leavePage() {
  for (const fn of cleanups) fn();
  cleanups = [];
}

/**
 * The context of one page: `main` (where it draws), `config`, `session`, `params` (from
 * the URL's path: router.resolve), `query` (the URL's search), `navigate`, and the helpers.
 */
export function pageContext({ main, config, session, params, navigate }) {
  return {
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
}

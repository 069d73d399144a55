// Talking to the REST API with the session cookie, and the live event feed.

let csrf = { header: "X-CSRF-Token", token: "" };

/** Remember the session's CSRF token: every action sends it. */
export function setSession(session) {
  csrf = { header: session.csrf_header || "X-CSRF-Token", token: session.csrf || "" };
}

/** An error the API answered with: its status, code, field and sentence. */
export class ApiError extends Error {
  constructor(status, body) {
    const error = (body && body.error) || {};
    super(error.message || `the server answered ${status}`);
    this.status = status;
    this.code = error.code || "error";
    this.field = error.field || null;
  }
}

function query(params) {
  const out = new URLSearchParams();
  for (const [key, value] of Object.entries(params || {})) {
    for (const item of Array.isArray(value) ? value : [value]) {
      if (item !== null && item !== undefined && item !== "") out.append(key, String(item));
    }
  }
  const text = out.toString();
  return text ? `?${text}` : "";
}

/** Call the API: api("/api/v1/jobs", {query, method, body}) -> parsed JSON (or null). */
export async function api(path, { method = "GET", body, params } = {}) {
  const headers = { Accept: "application/json" };
  if (body !== undefined) headers["Content-Type"] = "application/json";
  if (method !== "GET" && csrf.token) headers[csrf.header] = csrf.token;
  const response = await fetch(path + query(params), {
    method,
    headers,
    credentials: "same-origin",
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await response.text();
  const data = text ? JSON.parse(text) : null;
  if (!response.ok) throw new ApiError(response.status, data);
  return data;
}

export const v1 = (path) => `/api/v1${path}`;

// -- live updates ------------------------------------------------------------------------

const listeners = new Set();
let source = null;
let timer = null;
let settings = { refresh: "live", refresh_interval: 10 };
let onStatus = () => {};

/** How the feed behaves (config `dashboard.refresh`) and where it reports trouble. */
export function configureLive(config, status) {
  settings = config;
  onStatus = status;
}

function start() {
  if (settings.refresh === "live" && !source) {
    source = new EventSource(v1("/events/stream"));
    source.addEventListener("run", (message) => {
      const event = JSON.parse(message.data);
      for (const listener of [...listeners]) listener(event);
    });
    source.addEventListener("open", () => onStatus(""));
    source.addEventListener("error", () => {
      onStatus("Live updates interrupted; reconnecting…");
    });
  } else if (settings.refresh === "poll" && !timer) {
    timer = setInterval(() => {
      for (const listener of [...listeners]) listener(null);
    }, settings.refresh_interval * 1000);
  }
}

/** Call `listener(event)` for each run event (null on a poll tick); returns an unsubscribe. */
export function onLive(listener) {
  listeners.add(listener);
  start();
  return () => listeners.delete(listener);
}

/** Stop the feed (on logout). */
export function stopLive() {
  if (source) source.close();
  if (timer) clearInterval(timer);
  source = null;
  timer = null;
  listeners.clear();
}

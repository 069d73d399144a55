// Building the page safely: every piece of data goes in as text (textContent or a text
// node), never as HTML, so nothing a user stored can run as script.

import { label } from "./states.js";

const SVG_NS = "http://www.w3.org/2000/svg";

function fill(el, attrs, children) {
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value === null || value === undefined || value === false) continue;
    if (key === "text") el.textContent = String(value);
    else if (key.startsWith("on") && typeof value === "function") {
      el.addEventListener(key.slice(2), value);
    } else el.setAttribute(key, value === true ? "" : String(value));
  }
  for (const child of children.flat(Infinity)) {
    if (child === null || child === undefined || child === false) continue;
    el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return el;
}

/** An HTML element: h("a", {href, class, onclick}, "text", child...). */
export function h(tag, attrs, ...children) {
  return fill(document.createElement(tag), attrs, children);
}

/** An SVG element, built the same way. */
export function svg(tag, attrs, ...children) {
  return fill(document.createElementNS(SVG_NS, tag), attrs, children);
}

/** Replace everything inside `el` with `children`. */
export function put(el, ...children) {
  el.replaceChildren();
  return fill(el, {}, children);
}

/** A link that the dashboard follows without reloading the page. */
export function link(href, ...children) {
  return h("a", { href, "data-link": true }, ...children);
}

export const base = "/dashboard";

let zone = "UTC";
/** Set the zone times are shown in ("browser" means the viewer's own). */
export function setZone(name) {
  zone = name === "browser" ? Intl.DateTimeFormat().resolvedOptions().timeZone || "UTC" : name;
}
export function viewerZone() {
  return zone;
}

const formats = new Map();
function formatter(tz) {
  if (!formats.has(tz)) {
    formats.set(tz, new Intl.DateTimeFormat("sv-SE", {
      timeZone: tz, year: "numeric", month: "2-digit", day: "2-digit",
      hour: "2-digit", minute: "2-digit", second: "2-digit", hourCycle: "h23",
    }));
  }
  return formats.get(tz);
}

/** "2026-11-23 10:00:00" in `tz` (the viewer's zone by default). */
export function stamp(iso, tz = zone) {
  if (!iso) return "—";
  return formatter(tz).format(new Date(iso));
}

/** "in 5 min", "3 h ago": how far a time is from now. */
export function relative(iso) {
  if (!iso) return "";
  const seconds = (new Date(iso).getTime() - Date.now()) / 1000;
  const text = span(Math.abs(seconds));
  if (Math.abs(seconds) < 1) return "now";
  return seconds > 0 ? `in ${text}` : `${text} ago`;
}

/** A duration in seconds as "850 ms", "12.3 s", "4 min 5 s", "2 h 10 min". */
export function span(seconds) {
  if (seconds === null || seconds === undefined || Number.isNaN(seconds)) return "—";
  if (seconds < 1) return `${Math.round(seconds * 1000)} ms`;
  if (seconds < 60) return `${seconds.toFixed(seconds < 10 ? 1 : 0)} s`;
  // round to the smaller unit first, so 7199 s reads "2 h 0 min", never "1 h 60 min"
  const [big, small, names] = seconds < 3600 ? [60, 1, ["min", "s"]]
    : seconds < 86400 ? [3600, 60, ["h", "min"]] : [86400, 3600, ["d", "h"]];
  const smalls = Math.round(seconds / small);
  const per = big / small;
  return `${Math.floor(smalls / per)} ${names[0]} ${smalls % per} ${names[1]}`;
}

/** Seconds between two ISO times (the second defaults to now). */
export function between(from, to) {
  if (!from) return null;
  const end = to ? new Date(to).getTime() : Date.now();
  return Math.max(0, (end - new Date(from).getTime()) / 1000);
}

/** A time in the viewer's zone with UTC below it. */
export function when(iso) {
  if (!iso) return h("span", { class: "muted" }, "—");
  const utc = stamp(iso, "UTC");
  return h("span", { class: "when", title: `${utc} UTC` },
    h("span", {}, `${stamp(iso)} ${zone === "UTC" ? "UTC" : zone}`),
    h("span", { class: "muted small" }, ` ${utc} UTC · ${relative(iso)}`));
}

/** A run state as a coloured badge (colour and word: never colour alone). */
export function badge(state) {
  if (!state) return h("span", { class: "muted" }, "—");
  return h("span", { class: `badge s-${state}`, "data-state": state }, label(state));
}

/** A number with thousands separators. */
export function count(n) {
  return n === null || n === undefined ? "—" : Number(n).toLocaleString("en-US");
}

/** A share as "97.5 %". */
export function percent(x) {
  return x === null || x === undefined ? "—" : `${(x * 100).toFixed(x === 1 ? 0 : 1)} %`;
}

/** A card with a heading. */
export function card(title, ...body) {
  return h("section", { class: "card" }, h("h2", {}, title), ...body);
}

/** A table: columns [{label, cell(row) -> node}] over rows; a wrapper scrolls on phones. */
export function table(columns, rows, empty = "Nothing here yet.") {
  if (!rows.length) return h("p", { class: "muted empty" }, empty);
  return h("div", { class: "table-wrap" },
    h("table", {},
      h("thead", {}, h("tr", {}, columns.map((c) => h("th", { scope: "col" }, c.label)))),
      h("tbody", {}, rows.map((row) => h("tr", {}, columns.map((c) =>
        h("td", { "data-label": c.label }, c.cell(row))))))));
}

/** Pretty JSON as text. */
export function json(value) {
  return h("pre", { class: "code" }, JSON.stringify(value, null, 2));
}

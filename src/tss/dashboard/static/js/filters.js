// The filter form above a long list (jobs, runs): labelled fields and an Apply button;
// applying opens the list again with the form's query in the URL.

import { base, h } from "./dom.js";

/** A form field: its label above the input. */
export function field(label, input) {
  return h("label", {}, h("span", {}, label), input);
}

/** A <select> of [value, text] options with `value` chosen. */
export function select(name, options, value) {
  return h("select", { name },
    options.map(([v, text]) => h("option", { value: v, selected: v === value }, text)));
}

/**
 * The filter form of the list at `base/path`: `fields`, then Apply, which navigates there
 * with the query `encode(formData)` returns (URLSearchParams).
 */
export function filterForm(ctx, path, encode, ...fields) {
  return h("form", { class: "filters", role: "search", onsubmit: (event) => {
    event.preventDefault();
    ctx.navigate(`${base}/${path}?${encode(new FormData(event.currentTarget))}`);
  } },
  ...fields,
  h("button", { type: "submit", class: "primary" }, "Apply"));
}

/** A datetime-local value (the browser's zone) as ISO 8601 with its zone, or null. */
export function iso(value) {
  return value ? new Date(value).toISOString() : null;
}

/** An ISO 8601 time as a datetime-local value in the browser's zone ("" for none). */
export function local(value) {
  if (!value) return "";
  const d = new Date(value);
  const pad = (n) => String(n).padStart(2, "0");
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}T${pad(d.getHours())}:${pad(d.getMinutes())}`;
}

// Alerts and silences as the pages show them: the alert states (from the server's
// tss-config, as tss.core.alerts defines them), a state as a badge, the alerts table with
// each alert's text and error on expanding it, a silence in words, and durations typed
// as "30m", "1h", "1d".

import { config } from "./config.js";
import { base, h, json, link, table, when } from "./dom.js";

/** The states a stored alert can be in, in the server's order. */
export const ALERT_STATES = Object.freeze([...(config.alert_states || [])]);

const UNITS = { ms: 0.001, s: 1, m: 60, h: 3600, d: 86400, w: 604800 };

/**
 * Seconds in a duration typed as a number of seconds or as "30m", "1h", "1h30m", "1d"
 * (units ms, s, m, h, d, w: those of the config files); throws an Error saying what to
 * type when the text is not one.
 */
export function parseDuration(text) {
  const typed = String(text ?? "").trim();
  if (/^\d+(\.\d+)?$/.test(typed)) return Number(typed);
  const part = /^(\d+(?:\.\d+)?)\s*(ms|s|m|h|d|w)\s*/i;
  let rest = typed;
  let total = 0;
  while (rest) {
    const found = part.exec(rest);
    if (!found) break;
    total += Number(found[1]) * UNITS[found[2].toLowerCase()];
    rest = rest.slice(found[0].length);
  }
  if (!typed || rest) {
    throw new Error(`${JSON.stringify(typed)} is not a duration: type e.g. 30m, 1h, 1h30m or 1d`);
  }
  return total;
}

/** An alert state as a coloured badge (a word and a colour). */
export function alertBadge(state) {
  return h("span", { class: `badge a-${state}`, "data-alert-state": state }, state);
}

/** "Alerts silenced until <time> by <who> (<note>)", as nodes (all text). */
export function silenceWords(silence) {
  return [
    "Alerts silenced until ", when(silence.until), ` by ${silence.by}`,
    silence.note ? ` (${silence.note})` : null,
  ];
}

/**
 * An alert's subject, opening on click to its text, error, run and details. `open` is the
 * set of alert ids the viewer has opened: it keeps them open when the table is redrawn.
 */
function subject(alert, open) {
  const facts = [
    h("pre", { class: "code", "data-testid": "alert-text" }, alert.text),
    alert.error ? h("p", { class: "error reason", "data-testid": "alert-error" }, `Error: ${alert.error}`) : null,
    h("p", { class: "muted small" },
      alert.run_id ? ["Run ", link(`${base}/runs/${encodeURIComponent(alert.run_id)}`, alert.run_id.slice(-8)), " · "] : null,
      `Sent: `, alert.sent_at ? when(alert.sent_at) : "not yet",
      alert.state === "pending" ? [" · next attempt ", when(alert.next_at)] : null),
    Object.keys(alert.details || {}).length ? json(alert.details) : null,
  ];
  return h("details", {
    class: "alert", "data-alert": alert.id, open: open.has(alert.id),
    ontoggle: (event) => {
      if (event.currentTarget.open) open.add(alert.id); else open.delete(alert.id);
    },
  }, h("summary", { class: "reason" }, alert.subject || "(no subject)"), facts);
}

/** The alerts table; `withJob` false leaves out the job column (a job's own page). */
export function alertTable(items, open, { withJob = true, empty = "No alert yet." } = {}) {
  const columns = [
    { label: "When", cell: (a) => when(a.created_at) },
    { label: "Kind", cell: (a) => a.kind },
    withJob ? { label: "Job", cell: (a) => a.job ? link(`${base}/jobs/${encodeURIComponent(a.job)}`, a.job) : h("span", { class: "muted" }, "—") } : null,
    { label: "Channel", cell: (a) => a.channel },
    { label: "State", cell: (a) => alertBadge(a.state) },
    { label: "Attempts", cell: (a) => String(a.attempts) },
    { label: "Subject", cell: (a) => subject(a, open) },
  ].filter(Boolean);
  return table(columns, items, empty);
}

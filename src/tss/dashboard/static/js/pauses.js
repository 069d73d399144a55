// Pauses with a note and an end time: the words that say who paused a job, why and until
// when; the pause dialog (one job, or every job the Jobs filter selects); bulk resume.

import { api, v1 } from "./api.js";
import { h, relative, stamp } from "./dom.js";
import { iso } from "./filters.js";

/** The most characters a note keeps (the server refuses more). */
export const MAX_NOTE = 500;

/** A note cut to `width` characters, an ellipsis marking the cut. */
export function shortNote(note, width = 60) {
  if (!note) return "";
  return note.length <= width ? note : `${note.slice(0, width - 1)}…`;
}

/** A time as "2026-12-07 03:57 UTC (in 2 h)", its UTC form in the title. */
function at(iso) {
  return h("time", { datetime: iso, title: `${stamp(iso, "UTC")} UTC` }, `${stamp(iso)} (${relative(iso)})`);
}

/** "Paused by token:ops at <time>, resumes at <time>", then the note on a line of its own,
 * for a job's `pause` (null: nothing). */
export function pauseWords(pause) {
  if (!pause) return null;
  return [
    h("span", {}, `Paused by ${pause.by} `, at(pause.at),
      pause.until ? [", resumes by itself ", at(pause.until)] : ", until someone resumes it"),
    pause.note ? h("span", { class: "pause-note block" }, pause.note) : null,
  ];
}

/** A job's pause in a table cell: who, until when, and the note shortened (whole in the title). */
export function pauseCell(job) {
  if (!job.paused || !job.pause) return null;
  const pause = job.pause;
  return h("span", { class: "muted small block", "data-testid": "pause-note", title: pause.note || "" },
    `by ${pause.by}`,
    pause.until ? `, until ${stamp(pause.until)}` : null,
    pause.note ? `: ${shortNote(pause.note)}` : null);
}

/** The words of a Jobs filter for the bulk dialog ("prefix etl., tag nightly"). */
export function selectionWords(selection) {
  const parts = ["prefix", "tag", "pool"].filter((k) => selection[k]).map((k) => `${k} ${selection[k]}`);
  return parts.length ? parts.join(", ") : "every job";
}

/**
 * The pause form: a note, and an optional end (a duration like "2h", or a time in the
 * browser's zone). `send(body)` makes the request; a refusal is shown naming the field.
 */
export function pauseDialog(ctx, { title, hint, submit, send, done }) {
  const inputs = {
    note: h("input", { id: "pause-note", name: "note", maxlength: MAX_NOTE, autocomplete: "off" }),
    until: h("input", { id: "pause-until", name: "until", autocomplete: "off", placeholder: "e.g. 2h, 1d",
      "aria-describedby": "pause-hint" }),
    at: h("input", { id: "pause-at", name: "at", type: "datetime-local" }),
  };
  const error = h("p", { class: "error", role: "alert", "data-testid": "pause-error" });
  const close = () => { dialog.close(); dialog.remove(); };
  const fail = (message, field) => {
    const input = field === "until" && inputs.at.value ? inputs.at : inputs[field];
    for (const each of Object.values(inputs)) each.setAttribute("aria-invalid", String(each === input));
    error.textContent = message;
    if (input) input.focus();
  };
  const dialog = h("dialog", { class: "card", id: "pause-dialog", "aria-labelledby": "pause-title" },
    h("form", { method: "dialog", class: "stack", onsubmit: async (event) => {
      event.preventDefault();
      const body = {};
      if (inputs.note.value.trim()) body.note = inputs.note.value;
      const until = inputs.at.value ? iso(inputs.at.value) : inputs.until.value.trim();
      if (until) body.until = until;
      let out;
      try {
        out = await send(body);
      } catch (e) {
        const named = !e.field || e.message.startsWith(e.field) ? e.message : `${e.field}: ${e.message}`;
        fail(named, e.field);
        return;
      }
      close();
      done(out);
    } },
    h("h2", { id: "pause-title" }, title),
    hint ? h("p", { class: "muted small" }, hint) : null,
    h("label", { for: "pause-note" }, "Note (why, for the others)"),
    inputs.note,
    h("label", { for: "pause-until" }, "Resume by itself after (optional)"),
    inputs.until,
    h("p", { class: "muted small", id: "pause-hint" }, "e.g. 30m, 2h, 1d; empty: until someone resumes it"),
    h("label", { for: "pause-at" }, "Or at (your time zone; overrides the above)"),
    inputs.at,
    error,
    h("p", { class: "actions" },
      h("button", { type: "submit", class: "primary" }, submit),
      h("button", { type: "button", onclick: close }, "Cancel"))));
  document.body.append(dialog);
  dialog.showModal();
  inputs.note.focus();
}

/** Pause one job, asking for a note and an end; `done()` redraws. */
export function pauseJobDialog(ctx, name, done) {
  pauseDialog(ctx, {
    title: `Pause ${name}`,
    hint: "It stops firing; fires made ahead are withdrawn.",
    submit: "Pause",
    send: (body) => api(v1(`/jobs/${encodeURIComponent(name)}/pause`), { method: "POST", body }),
    done: () => { ctx.status(`Paused ${name}`, "ok"); done(); },
  });
}

/** The filter of the Jobs page as a bulk selection: prefix, tag, pool (or every job). */
function selectionOf(query) {
  const selection = {};
  for (const key of ["prefix", "tag", "pool"]) if (query.get(key)) selection[key] = query.get(key);
  if (!Object.keys(selection).length) selection.all = true;
  return selection;
}

/** "Pause matching…" and "Resume matching" for the jobs the Jobs filter selects; operators only. */
export function bulkActions(ctx, done) {
  if (!ctx.can("operator")) return null;
  const selection = selectionOf(ctx.query);
  const words = selectionWords(selection);
  const pause = h("button", { type: "button", "data-action": "pause-matching", onclick: () => pauseDialog(ctx, {
    title: `Pause the jobs: ${words}`,
    hint: "Every job the filter's name prefix, tag and pool select that is not paused yet.",
    submit: "Pause them",
    send: (body) => api(v1("/jobs/pause"), { method: "POST", body: { ...selection, ...body } }),
    done: (out) => { ctx.status(`Paused ${out.count} job${out.count === 1 ? "" : "s"}`, "ok"); done(); },
  }) }, "Pause matching…");
  const resume = h("button", { type: "button", "data-action": "resume-matching", onclick: () => confirmDialog(
    `Resume every paused job: ${words}?`, "Resume them", async () => {
      const out = await ctx.act(`Resume ${words}`, () => api(v1("/jobs/resume"), { method: "POST", body: selection }));
      if (out) done();
    }) }, "Resume matching…");
  return h("p", { class: "actions", "data-testid": "bulk-actions" }, pause, resume);
}

/** A yes/no question in a dialog of the page's own (never the browser's `confirm`). */
function confirmDialog(question, yes, then) {
  const close = () => { dialog.close(); dialog.remove(); };
  const dialog = h("dialog", { class: "card", id: "confirm-dialog", "aria-labelledby": "confirm-title" },
    h("form", { method: "dialog", onsubmit: (event) => { event.preventDefault(); close(); then(); } },
      h("h2", { id: "confirm-title" }, question),
      h("p", { class: "actions" },
        h("button", { type: "submit", class: "primary" }, yes),
        h("button", { type: "button", onclick: close }, "Cancel"))));
  document.body.append(dialog);
  dialog.showModal();
}

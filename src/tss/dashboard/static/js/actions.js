// Buttons that change things: shown only to roles that may (the server refuses anyway),
// and a pager shared by the long lists.

import { parseDuration } from "./alerts.js";
import { api, v1 } from "./api.js";
import { base, count, h } from "./dom.js";
import { iso } from "./filters.js";
import { pauseJobDialog } from "./pauses.js";
import { isEnded } from "./states.js";

const path = (name) => v1(`/jobs/${encodeURIComponent(name)}`);

/** Run now (with params), pause (asking for a note and an end) or resume a job; `done()`
 * redraws. Empty for a viewer. */
export function jobActions(ctx, job, done) {
  if (!ctx.can("operator")) return null;
  const name = job.name;
  const toggle = job.paused
    ? h("button", { type: "button", "data-action": "resume", onclick: async () => {
      if (await ctx.act(`Resume ${name}`, () => api(`${path(name)}/resume`, { method: "POST" }))) done();
    } }, "Resume")
    : h("button", { type: "button", "data-action": "pause",
      onclick: () => pauseJobDialog(ctx, name, done) }, "Pause…");
  const run = h("button", { type: "button", class: "primary", "data-action": "run",
    onclick: () => runDialog(ctx, name) }, "Run now");
  return h("span", { class: "actions" }, run, toggle);
}

/** A dialog asking for the run's params (JSON), then triggering it and opening the run. */
function runDialog(ctx, name) {
  const area = h("textarea", { id: "run-params", rows: 6, spellcheck: "false" }, "{}");
  const error = h("p", { class: "error", role: "alert" });
  const dialog = h("dialog", { class: "card", "aria-labelledby": "run-title" },
    h("form", { method: "dialog", onsubmit: async (event) => {
      event.preventDefault();
      let params;
      try {
        params = JSON.parse(area.value || "{}");
      } catch (e) {
        error.textContent = `The params are not valid JSON: ${e.message}`;
        return;
      }
      try {
        const run = await api(`${path(name)}/runs`, { method: "POST", body: { params } });
        dialog.close();
        dialog.remove();
        ctx.navigate(`${base}/runs/${run.id}`);
      } catch (e) {
        error.textContent = e.message;
      }
    } },
    h("h2", { id: "run-title" }, `Run ${name} now`),
    h("label", { for: "run-params" }, "Params (JSON, merged over the job's own)"),
    area, error,
    h("p", { class: "actions" },
      h("button", { type: "submit", class: "primary" }, "Run"),
      h("button", { type: "button", onclick: () => { dialog.close(); dialog.remove(); } }, "Cancel"))));
  document.body.append(dialog);
  dialog.showModal();
  area.focus();
}

/** Cancel a run that has not ended, or retry one that has; empty for a viewer. */
export function runActions(ctx, run, done) {
  if (!ctx.can("operator")) return null;
  if (!isEnded(run.state)) {
    return h("button", { type: "button", "data-action": "cancel", onclick: async () => {
      if (await ctx.act("Cancel", () => api(v1(`/runs/${run.id}/cancel`), { method: "POST" }))) done();
    } }, "Cancel");
  }
  return h("button", { type: "button", "data-action": "retry", onclick: async () => {
    const made = await ctx.act("Retry", () => api(v1(`/runs/${run.id}/retry`), { method: "POST" }));
    if (made) ctx.navigate(`${base}/runs/${made.id}`);
  } }, "Retry");
}

/** Cancel every run of a flow run that has not ended; empty for a viewer or an ended flow. */
export function flowActions(ctx, flow, done) {
  if (!ctx.can("operator") || flow.state !== "running") return null;
  return h("button", { type: "button", "data-action": "cancel-flow", onclick: async () => {
    const out = await ctx.act("Cancel flow", () => api(v1(`/flows/${flow.flow_id}/cancel`), { method: "POST" }));
    if (out) done(out);
  } }, "Cancel flow");
}

/**
 * A job's silence: "Silence alerts" (a dialog asking for how long, or until when, and a
 * note) when `silence` is null, else "End silence"; `done()` redraws. Empty for a viewer.
 */
export function silenceActions(ctx, name, silence, done) {
  if (!ctx.can("operator")) return null;
  if (silence) return endSilence(ctx, name, done);
  return h("button", { type: "button", "data-action": "silence",
    onclick: () => silenceDialog(ctx, name, done) }, "Silence alerts");
}

/** "End silence" of `name`'s silence; empty for a viewer. */
export function endSilence(ctx, name, done) {
  if (!ctx.can("operator")) return null;
  return h("button", { type: "button", "data-action": "end-silence", onclick: async () => {
    const ended = await ctx.act(`End silence of ${name}`,
      () => api(`${path(name)}/silence`, { method: "DELETE" }).then(() => true));
    if (ended) done();
  } }, "End silence");
}

/** The silence form: a duration ("1h", "30m", "1d") or a time, and a note. */
function silenceDialog(ctx, name, done) {
  const inputs = {
    duration: h("input", { id: "silence-duration", name: "duration", value: "1h", autocomplete: "off",
      "aria-describedby": "silence-hint" }),
    until: h("input", { id: "silence-until", name: "until", type: "datetime-local" }),
    note: h("input", { id: "silence-note", name: "note", maxlength: 500, autocomplete: "off" }),
  };
  const error = h("p", { class: "error", role: "alert", "data-testid": "silence-error" });
  const close = () => { dialog.close(); dialog.remove(); };
  const fail = (message, field) => {
    for (const [key, input] of Object.entries(inputs)) {
      input.setAttribute("aria-invalid", String(key === field));
    }
    error.textContent = message;
    if (inputs[field]) inputs[field].focus();
  };
  const dialog = h("dialog", { class: "card", "aria-labelledby": "silence-title" },
    h("form", { method: "dialog", class: "stack", onsubmit: async (event) => {
      event.preventDefault();
      const body = { note: inputs.note.value };
      if (inputs.until.value) {
        body.until = iso(inputs.until.value);
      } else {
        try {
          body.duration = parseDuration(inputs.duration.value);
        } catch (e) {
          fail(`duration: ${e.message}`, "duration");
          return;
        }
      }
      try {
        await api(`${path(name)}/silence`, { method: "PUT", body });
      } catch (e) {
        // name the field the server refused, as the message may not
        const named = !e.field || e.message.startsWith(e.field) ? e.message : `${e.field}: ${e.message}`;
        fail(named, e.field);
        return;
      }
      close();
      ctx.status(`Alerts of ${name} silenced`, "ok");
      done();
    } },
    h("h2", { id: "silence-title" }, `Silence the alerts of ${name}`),
    h("p", { class: "muted small" }, "They are still recorded, as silenced, but not sent."),
    h("label", { for: "silence-duration" }, "For"),
    inputs.duration,
    h("p", { class: "muted small", id: "silence-hint" }, "e.g. 30m, 1h, 1h30m, 1d (at most a year)"),
    h("label", { for: "silence-until" }, "Or until (your time zone; overrides For)"),
    inputs.until,
    h("label", { for: "silence-note" }, "Note (why, for the others)"),
    inputs.note,
    error,
    h("p", { class: "actions" },
      h("button", { type: "submit", class: "primary" }, "Silence"),
      h("button", { type: "button", onclick: close }, "Cancel"))));
  document.body.append(dialog);
  dialog.showModal();
  inputs.duration.focus();
  inputs.duration.select();
}

/**
 * Cursor paging that stays fast on long lists: the URL holds `cursor` and the page
 * number `n`; earlier cursors are kept while the viewer pages forward.
 */
export function pager(ctx, page, shown) {
  const n = Number(ctx.query.get("n")) || 1;
  const size = ctx.config.page_size;
  const stack = (history.state && history.state.cursors) || [];
  const go = (cursor, number, cursors) => {
    const q = new URLSearchParams(ctx.query);
    if (cursor) q.set("cursor", cursor); else q.delete("cursor");
    if (number > 1) q.set("n", String(number)); else q.delete("n");
    ctx.navigate(`${location.pathname}?${q}`, false, { cursors });
  };
  const first = (n - 1) * size + 1;
  const total = page.total === null || page.total === undefined ? "" : ` of ${count(page.total)}`;
  return h("nav", { class: "pager", "aria-label": "Pages" },
    h("button", { type: "button", disabled: n <= 1, onclick: () => {
      const cursors = stack.slice(0, -1);
      go(cursors[cursors.length - 1] || null, n - 1, cursors);
    } }, "‹ Previous"),
    h("span", { class: "muted" }, shown ? `${count(first)}–${count(first + shown - 1)}${total}` : `0${total}`),
    h("button", { type: "button", disabled: !page.next_cursor, onclick: () => {
      go(page.next_cursor, n + 1, [...stack, page.next_cursor]);
    } }, "Next ›"));
}

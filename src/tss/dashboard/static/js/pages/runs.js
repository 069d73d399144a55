// Runs: newest first, filtered by job, state and time; live while on the first page.

import { pager } from "../actions.js";
import { api, v1 } from "../api.js";
import { badge, base, between, h, link, put, span, table, when } from "../dom.js";
import { field, filterForm, iso, local } from "../filters.js";
import { STATES } from "../states.js";
import { reasonOf } from "../words.js";

/** The run columns the config picks, in its order. */
export function runColumns(ctx) {
  const all = {
    id: { label: "Run", cell: (r) => link(`${base}/runs/${r.id}`, r.id.slice(-8)) },
    job: { label: "Job", cell: (r) => link(`${base}/jobs/${encodeURIComponent(r.job)}`, r.job) },
    // A queued run no live worker can take says why under its state (the API's
    // waiting_because), so a stall explains itself in the list too.
    state: { label: "State", cell: (r) => [badge(r.state),
      r.waiting_because ? h("div", { class: "muted small", "data-testid": "waiting" }, reasonOf(r)) : null] },
    trigger: { label: "Trigger", cell: (r) => r.trigger },
    attempt: { label: "Attempt", cell: (r) => `${r.attempt} of ${r.max_attempts}` },
    created: { label: "Created", cell: (r) => when(r.created_at) },
    duration: { label: "Duration", cell: (r) => span(between(r.started_at, r.finished_at)) },
    worker: { label: "Worker", cell: (r) => r.worker_id || "—" },
  };
  return ctx.config.run_columns.map((c) => all[c]);
}

/** The runs filter as a query: a job, any number of states, a creation window (ISO). */
function encode(data) {
  const out = new URLSearchParams();
  if (data.get("job")) out.set("job", data.get("job"));
  for (const state of data.getAll("state")) out.append("state", state);
  for (const key of ["since", "until"]) if (data.get(key)) out.set(key, iso(data.get(key)));
  return out;
}

function filters(ctx) {
  const q = ctx.query;
  const chosen = new Set(q.getAll("state"));
  return filterForm(ctx, "runs", encode,
  field("Job", h("input", { type: "search", name: "job", value: q.get("job") || "" })),
  h("fieldset", { class: "states" }, h("legend", {}, "States"),
    STATES.map((s) => h("label", { class: "check" },
      h("input", { type: "checkbox", name: "state", value: s, checked: chosen.has(s) }), badge(s)))),
  field("Created after", h("input", { type: "datetime-local", name: "since", value: local(q.get("since")) })),
  field("Created before", h("input", { type: "datetime-local", name: "until", value: local(q.get("until")) })));
}

export async function render(ctx) {
  const body = h("div", {});
  put(ctx.main, h("h1", {}, "Runs"), filters(ctx), body);
  const q = ctx.query;
  async function draw() {
    const page = await api(v1("/runs"), { params: {
      job: q.get("job"), state: q.getAll("state"), since: q.get("since"), until: q.get("until"),
      cursor: q.get("cursor"), limit: ctx.config.page_size,
    } });
    put(body, table(runColumns(ctx), page.items, "No run matches."), pager(ctx, page, page.items.length));
  }
  await draw();
  if (!q.get("cursor")) ctx.live(draw, (e) => !q.get("job") || e.job === q.get("job"), 400);
}

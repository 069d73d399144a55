// Flows: flow runs newest first (root job, when it started, its state, its runs counted by
// state), each linking to its root run; paged by cursor, live while on the first page.

import { pager } from "../actions.js";
import { api, v1 } from "../api.js";
import { badge, base, h, link, put, table, when } from "../dom.js";

const COLUMNS = [
  { label: "Flow", cell: (f) => link(`${base}/runs/${f.root_run}`, f.flow_id.slice(-8)) },
  { label: "Root job", cell: (f) => link(`${base}/jobs/${encodeURIComponent(f.root_job)}`, f.root_job) },
  { label: "Started", cell: (f) => when(f.started) },
  { label: "State", cell: (f) => h("span", { "data-testid": "flow-state" }, badge(f.state)) },
  { label: "Runs", cell: (f) => h("span", { class: "counts-inline", "data-testid": "flow-counts" },
    Object.entries(f.counts).map(([state, n]) => h("span", { class: "tag", "data-count": state }, `${n} `, badge(state)))) },
];

export async function render(ctx) {
  const body = h("div", {});
  put(ctx.main, h("h1", {}, "Flows"),
    h("p", { class: "muted" }, "Runs of jobs that others depend on, and every run they set going."), body);
  const cursor = ctx.query.get("cursor");
  async function draw() {
    const page = await api(v1("/flows"), { params: { cursor, limit: ctx.config.page_size } });
    put(body, table(COLUMNS, page.items, "No flow has run yet."), pager(ctx, page, page.items.length));
  }
  await draw();
  if (!cursor) ctx.live(draw, () => true, 400);
}

// Dead letters: runs that used up their retries (failed or timed out), with one-click retry.

import { pager } from "../actions.js";
import { api, v1 } from "../api.js";
import { badge, base, h, link, put, table, when } from "../dom.js";
import { FAILURES } from "../states.js";
import { reasonOf } from "../words.js";

export async function render(ctx) {
  const body = h("div", {});
  put(ctx.main, h("h1", {}, "Dead letters"),
    h("p", { class: "muted" }, "Runs that failed or timed out on their last allowed attempt. A retry makes a new run."),
    body);
  /** Runs retried from this page: run id -> the new run (kept across live redraws). */
  const retried = new Map();
  const retriedAs = (made) => link(`${base}/runs/${made.id}`, `retried as ${made.id.slice(-8)}`);
  async function draw() {
    const page = await api(v1("/runs"), { params: {
      state: FAILURES, cursor: ctx.query.get("cursor"), limit: ctx.config.page_size,
    } });
    const retry = (run) => retried.has(run.id) ? retriedAs(retried.get(run.id))
      : h("button", { type: "button", "data-action": "retry", onclick: async (event) => {
        const made = await ctx.act(`Retry ${run.id.slice(-8)}`, () =>
          api(v1(`/runs/${run.id}/retry`), { method: "POST" }));
        if (!made) return;
        retried.set(run.id, made);
        event.target.replaceWith(retriedAs(made));
      } }, "Retry");
    const columns = [
      { label: "Run", cell: (r) => link(`${base}/runs/${r.id}`, r.id.slice(-8)) },
      { label: "Job", cell: (r) => link(`${base}/jobs/${encodeURIComponent(r.job)}`, r.job) },
      { label: "State", cell: (r) => badge(r.state) },
      { label: "Attempts", cell: (r) => `${r.attempt} of ${r.max_attempts}` },
      { label: "Ended", cell: (r) => when(r.finished_at) },
      { label: "Reason", cell: (r) => h("span", { class: "reason" }, reasonOf(r)) },
    ];
    if (ctx.can("operator")) columns.push({ label: "Action", cell: retry });
    put(body, table(columns, page.items, "No dead letters."), pager(ctx, page, page.items.length));
  }
  await draw();
  if (!ctx.query.get("cursor")) {
    ctx.live(draw, (e) => FAILURES.includes(e.target), 500);
  }
}

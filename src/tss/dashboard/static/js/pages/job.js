// One job: its definition, the next 10 fire times, its run history with durations, and
// its dependency graph (drawn from the jobs' depends_on).

import { jobActions } from "../actions.js";
import { api, v1 } from "../api.js";
import { bars, graph, legend } from "../charts.js";
import {
  badge, base, between, card, h, json, link, put, span, stamp, table, when,
} from "../dom.js";
import { reasonOf } from "../words.js";
import { raw } from "./jobs.js";

const jobUrl = (name) => `${base}/jobs/${encodeURIComponent(name)}`;
const parentsOf = (job) => job.spec.depends_on.map((d) => ({ from: d.job, to: job.name, label: d.on }));
/** How many jobs are read to find a job's children (a larger store shows parents only). */
const SCAN = 2000;

async function flow(job) {
  const known = new Map([[job.name, job]]);
  const queue = [...job.spec.depends_on.map((d) => d.job)];
  while (queue.length && known.size < 50) {
    const name = queue.shift();
    if (known.has(name)) continue;
    try {
      const parent = await api(v1(`/jobs/${encodeURIComponent(name)}`));
      known.set(name, parent);
      queue.push(...parent.spec.depends_on.map((d) => d.job));
    } catch {
      known.set(name, null);
    }
  }
  let complete = true;
  const all = [];
  let cursor = null;
  do {
    const page = await api(v1("/jobs"), { params: { limit: 500, cursor } });
    all.push(...page.items);
    cursor = page.next_cursor;
  } while (cursor && all.length < SCAN);
  if (cursor) complete = false;
  const children = all.filter((j) => j.spec.depends_on.length);
  const down = new Set([job.name]);
  for (let grew = true; grew;) {
    grew = false;
    for (const j of children) {
      if (!down.has(j.name) && j.spec.depends_on.some((d) => down.has(d.job))) {
        down.add(j.name);
        known.set(j.name, j);
        grew = true;
      }
    }
  }
  const jobs = [...known].filter(([, j]) => j);
  if (jobs.length < 2) return null;
  const edges = jobs.flatMap(([, j]) => parentsOf(j)).filter((e) => known.has(e.from));
  const nodes = jobs.map(([name, j]) => ({
    id: name, href: jobUrl(name), current: name === job.name,
    cls: j.last_run ? `n-${j.last_run.state}` : "", title: `${name}: ${j.last_run ? j.last_run.state : "no run yet"}`,
  }));
  return h("div", {}, graph(nodes, edges),
    legend([{ cls: "on-success", label: "on success" }, { cls: "on-failure", label: "on failure" },
      { cls: "on-completion", label: "on completion" }]),
    complete ? null : h("p", { class: "muted small" }, `Children are looked for among the first ${SCAN} jobs only.`));
}

function definition(job) {
  const spec = job.spec;
  const row = (term, value) => [h("dt", {}, term), h("dd", {}, value)];
  return h("dl", { class: "facts" },
    row("Type", spec.type),
    row("Schedule", spec.schedule ? h("span", {}, job.schedule, h("code", { class: "muted block" }, raw(spec.schedule))) : "on demand"),
    row("State", job.paused ? "paused" : "active"),
    row("Pool, priority", `${spec.pool}, ${spec.priority}`),
    row("Retries", `${spec.retries.max} (${spec.retries.backoff}, first after ${span(spec.retries.delay)})`),
    row("Timeout", spec.timeout ? span(spec.timeout) : "none"),
    row("Depends on", spec.depends_on.length
      ? spec.depends_on.map((d) => h("span", { class: "tag" }, link(jobUrl(d.job), d.job), ` on ${d.on}`))
      : "nothing"),
    row("Tags", spec.tags.length ? spec.tags.join(", ") : "none"),
    row("Description", spec.description || "—"),
    row("Version", `${job.version}, changed ${stamp(job.updated_at)}`));
}

export async function render(ctx) {
  const name = ctx.params.id;
  const [job, next, runs] = await Promise.all([
    api(v1(`/jobs/${encodeURIComponent(name)}`)),
    api(v1(`/jobs/${encodeURIComponent(name)}/next`), { params: { n: 10 } }),
    api(v1("/runs"), { params: { job: name, limit: 100 } }),
  ]);
  const historyBox = h("div", {});
  const head = h("div", { class: "page-head" });
  const drawHead = (j) => put(head, h("h1", {}, j.name), j.paused ? h("span", { class: "tag" }, "paused") : null,
    jobActions(ctx, j, reload));
  async function reload() {
    drawHead(await api(v1(`/jobs/${encodeURIComponent(name)}`)));
  }
  drawHead(job);
  const graphSlot = h("div", {}, h("p", { class: "muted" }, job.spec.depends_on.length ? "Drawing…" : ""));
  put(ctx.main, head,
    h("div", { class: "grid" },
      card("Definition", definition(job), h("details", {}, h("summary", {}, "As JSON"), json(job.spec))),
      card("Next fire times", next.times.length ? h("ol", { class: "times" }, next.times.map((t) => h("li", {}, when(t))))
        : h("p", { class: "muted" }, job.paused ? "Paused: it does not fire." : "No schedule: it runs when triggered or by its parents."))),
    card("Flow", graphSlot),
    card("Run history", historyBox));

  function drawHistory(page) {
    const ended = page.items.filter((r) => r.started_at).reverse();
    put(historyBox,
      ended.length ? bars(ended.map((r) => ({
        value: between(r.started_at, r.finished_at) || 0, cls: `f-${r.state}`, href: `${base}/runs/${r.id}`,
        title: `${stamp(r.started_at)}: ${r.state}, ${span(between(r.started_at, r.finished_at))}`,
      })), { label: "run durations, oldest first", format: (v) => span(v) }) : null,
      table([
        { label: "Run", cell: (r) => link(`${base}/runs/${r.id}`, r.id.slice(-8)) },
        { label: "State", cell: (r) => badge(r.state) },
        { label: "Trigger", cell: (r) => r.trigger },
        { label: "Created", cell: (r) => when(r.created_at) },
        { label: "Duration", cell: (r) => span(between(r.started_at, r.finished_at)) },
        { label: "Outcome", cell: (r) => h("span", { class: "reason" }, reasonOf(r)) },
      ], page.items.slice(0, 25), "No runs yet."));
  }
  drawHistory(runs);
  ctx.live(async () => drawHistory(await api(v1("/runs"), { params: { job: name, limit: 100 } })),
    (event) => event.job === name, 300);
  put(graphSlot, (await flow(job)) || h("p", { class: "muted" }, "No dependencies."));
}

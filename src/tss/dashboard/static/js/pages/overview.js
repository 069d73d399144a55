// Overview: runs by state, throughput and success rate (hour or day), fire lateness,
// queue depth per pool, recent failures with their reason, workers up and down.

import { api, v1 } from "../api.js";
import { dots, legend, stackedBars } from "../charts.js";
import { badge, base, card, count, h, link, percent, put, span, table, when } from "../dom.js";
import { ENDED, FAILURES, label, STATES } from "../states.js";
import { reasonOf } from "../words.js";

/** The ends the throughput chart stacks: a skipped run never ran, so it is left out. */
const ENDS = ENDED.filter((name) => name !== "skipped")
  .map((name) => ({ name, cls: `f-${name}`, label: label(name) }));

/** Buckets of `width` seconds from the API's per-minute points. */
function regroup(points, width) {
  const out = new Map();
  for (const p of points) {
    const at = Math.floor(new Date(p.at).getTime() / 1000 / width) * width * 1000;
    const parts = out.get(at) || {};
    for (const [state, n] of Object.entries(p.counts)) parts[state] = (parts[state] || 0) + n;
    out.set(at, parts);
  }
  return [...out].map(([at, parts]) => ({ at: new Date(at).toISOString(), parts }));
}

function throughput(stats, window) {
  const to = Date.now(), from = to - window * 1000;
  const width = window > 3600 ? 900 : 60;
  const buckets = regroup(stats.throughput, width);
  let good = 0, bad = 0;
  for (const b of buckets) {
    good += b.parts.succeeded || 0;
    bad += FAILURES.reduce((n, state) => n + (b.parts[state] || 0), 0);
  }
  const ended = buckets.reduce((s, b) => s + ENDS.reduce((t, k) => t + (b.parts[k.name] || 0), 0), 0);
  const perMinute = ended / (window / 60);
  return h("div", {},
    h("p", { class: "figures" },
      h("span", {}, h("strong", {}, perMinute.toFixed(perMinute < 10 ? 2 : 0)), " runs/min"),
      h("span", {}, h("strong", { "data-testid": "success-rate" },
        percent(good + bad ? good / (good + bad) : null)), " succeeded"),
      h("span", {}, h("strong", {}, count(ended)), " ended")),
    stackedBars(buckets, ENDS, { from, to, width: width * 1000, label: "runs ended over time" }),
    legend(ENDS));
}

export async function render(ctx) {
  let window = Number(ctx.query.get("window")) || 3600;
  const shell = h("div", {});
  put(ctx.main, h("h1", {}, "Overview"), shell);

  async function draw() {
    const [stats, late, queues, failures, workers] = await Promise.all([
      api(v1("/stats"), { params: { window } }),
      api(v1("/stats/lateness"), { params: { window } }),
      api(v1("/stats/queues")),
      api(v1("/runs"), { params: { state: FAILURES, limit: 8 } }),
      api(v1("/workers"), { params: { limit: 500 } }),
    ]);
    const choose = (seconds, label) => h("button", {
      type: "button", class: seconds === window ? "chip on" : "chip",
      "aria-pressed": String(seconds === window),
      onclick: () => { window = seconds; draw(); },
    }, label);
    const up = workers.items.filter((w) => w.state === "up").length;
    const to = Date.now();
    put(shell,
      h("div", { class: "counts" }, STATES.map((s) =>
        link(`${base}/runs?state=${s}`, h("span", { class: "count-n", "data-testid": `count-${s}` },
          count(stats.counts[s] || 0)), badge(s)))),
      h("div", { class: "grid" },
        card("Runs ended", h("div", { class: "chips" }, choose(3600, "Last hour"), choose(86400, "Last day")),
          throughput(stats, window)),
        card("Fire lateness",
          h("p", { class: "figures" },
            h("span", {}, "median ", h("strong", {}, span(late.p50))),
            h("span", {}, "95th ", h("strong", {}, span(late.p95))),
            h("span", {}, "worst ", h("strong", {}, span(late.max))),
            h("span", { class: "muted" }, `${count(late.samples)} scheduled runs`)),
          dots(late.points.map((p) => ({
            at: p.at, value: p.late, title: `${p.job}: ${span(p.late)} late`,
          })), { from: to - window * 1000, to, label: "fire lateness", format: (v) => span(v) })),
        card("Queues", table([
          { label: "Pool", cell: (q) => q.pool },
          { label: "Queued", cell: (q) => `${count(q.queued)}${q.capped ? "+" : ""}` },
          { label: "Workers up", cell: (q) => count(q.workers) },
          { label: "Slots", cell: (q) => count(q.slots) },
        ], queues.pools, "No pools: no worker is up and nothing is queued.")),
        card("Workers",
          h("p", { class: "figures" },
            h("span", {}, h("strong", {}, count(up)), " up"),
            h("span", {}, h("strong", {}, count(workers.items.length - up)), " down or dead")),
          link(`${base}/workers`, "All workers"))),
      card("Recent failures", table([
        { label: "Run", cell: (r) => link(`${base}/runs/${r.id}`, r.id.slice(-8)) },
        { label: "Job", cell: (r) => link(`${base}/jobs/${encodeURIComponent(r.job)}`, r.job) },
        { label: "State", cell: (r) => badge(r.state) },
        { label: "Ended", cell: (r) => when(r.finished_at) },
        { label: "Reason", cell: (r) => h("span", { class: "reason" }, reasonOf(r)) },
      ], failures.items, "No failures.")));
  }

  await draw();
  ctx.live(draw, () => true, 700);
  ctx.every(15, draw);
}

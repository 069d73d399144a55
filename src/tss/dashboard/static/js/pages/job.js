// One job: its definition, the next 10 fire times, its run history with durations, its
// dependency graph (parents through depends_on, descendants from the API's flow route),
// whether its alerts are silenced (operators silence them or end the silence), its
// recent alerts, and its versions (who changed it, when, the diff; admins roll back).

import { jobActions, silenceActions } from "../actions.js";
import { alertTable, silenceWords } from "../alerts.js";
import { api, v1 } from "../api.js";
import { bars } from "../charts.js";
import {
  badge, base, between, card, h, json, link, put, span, stamp, table, when,
} from "../dom.js";
import { jobGraph } from "../flowgraph.js";
import { jobHistory } from "../history.js";
import { jobFires } from "../ledger.js";
import { pauseWords } from "../pauses.js";
import { reasonOf } from "../words.js";
import { raw } from "./jobs.js";

const jobUrl = (name) => `${base}/jobs/${encodeURIComponent(name)}`;

function definition(job) {
  const spec = job.spec;
  const row = (term, value) => [h("dt", {}, term), h("dd", {}, value)];
  return h("dl", { class: "facts" },
    row("Type", spec.type),
    row("Schedule", spec.schedule ? h("span", {}, job.schedule, h("code", { class: "muted block" }, raw(spec.schedule))) : "on demand"),
    row("State", job.paused ? h("span", {}, "paused", job.pause && job.pause.note
      ? h("span", { class: "muted block" }, job.pause.note) : null) : "active"),
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
  const [job, next, runs, silences, alerts] = await Promise.all([
    api(v1(`/jobs/${encodeURIComponent(name)}`)),
    api(v1(`/jobs/${encodeURIComponent(name)}/next`), { params: { n: 10 } }),
    api(v1("/runs"), { params: { job: name, limit: 100 } }),
    api(v1("/silences")),
    api(v1("/alerts"), { params: { job: name, limit: 10 } }),
  ]);
  const historyBox = h("div", {});
  const alertsBox = h("div", { "data-testid": "job-alerts" });
  const head = h("div", { class: "page-head" });
  const silenceBox = h("div", { "data-testid": "silence" });
  const pauseBox = h("div", { "data-testid": "pause" });
  const drawHead = (j) => {
    put(head, h("h1", {}, j.name), j.paused ? h("span", { class: "tag" }, "paused") : null,
      jobActions(ctx, j, reload));
    put(pauseBox, j.pause ? h("p", { class: "paused-note" }, pauseWords(j.pause)) : null);
  };
  /** The job's silence (from GET /silences): a line saying until when, by whom and why. */
  const drawSilence = (all) => {
    const silence = all.items.find((s) => s.job === name) || null;
    const action = silenceActions(ctx, name, silence, reloadSilence);
    put(silenceBox, silence
      ? h("p", { class: "silenced" }, h("span", { "data-testid": "silenced" }, silenceWords(silence)), action)
      : action && h("p", { class: "actions" }, action));
  };
  async function reload() {
    drawHead(await api(v1(`/jobs/${encodeURIComponent(name)}`)));
  }
  async function reloadSilence() {
    drawSilence(await api(v1("/silences")));
  }
  drawHead(job);
  drawSilence(silences);
  /** Alerts the viewer opened: kept open across redraws. */
  const opened = new Set();
  const drawAlerts = (page) => put(alertsBox,
    alertTable(page.items, opened, { withJob: false, empty: "No alert about this job." }),
    ctx.config.pages.includes("alerts") && page.items.length
      ? h("p", {}, link(`${base}/alerts?job=${encodeURIComponent(name)}`, "All its alerts")) : null);
  drawAlerts(alerts);
  const graphSlot = h("div", {}, h("p", { class: "muted" }, "Drawing…"));
  // The job's versions (who changed it, when), each with its diff; a rollback redraws
  // the whole page (the definition changed).
  const versions = jobHistory(ctx, name, () => ctx.navigate(location.pathname, true));
  // The fire ledger: every fire of the schedule and what became of it (scheduled jobs).
  const fires = job.spec.schedule ? jobFires(ctx, name) : null;
  put(ctx.main, head, pauseBox, silenceBox,
    h("div", { class: "grid" },
      card("Definition", definition(job), h("details", {}, h("summary", {}, "As JSON"), json(job.spec))),
      card("Next fire times", next.times.length ? h("ol", { class: "times" }, next.times.map((t) => h("li", {}, when(t))))
        : h("p", { class: "muted" }, job.paused ? "Paused: it does not fire." : "No schedule: it runs when triggered or by its parents."))),
    fires ? card("Fires", fires.box) : null,
    card("Flow", graphSlot),
    card("Run history", historyBox),
    card("History", versions.box),
    card("Alerts", alertsBox));

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
  await versions.draw();
  if (fires) {
    await fires.draw();
    ctx.live(fires.draw, (event) => event.job === name, 1000);
  }
  ctx.live(async () => drawHistory(await api(v1("/runs"), { params: { job: name, limit: 100 } })),
    (event) => event.job === name, 300);
  // an alert follows its run's event a moment later
  ctx.live(async () => drawAlerts(await api(v1("/alerts"), { params: { job: name, limit: 10 } })),
    (event) => event.job === name, 1500);
  put(graphSlot, (await jobGraph(job)) || h("p", { class: "muted" }, "No dependencies."));
}

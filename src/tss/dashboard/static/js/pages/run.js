// One run: its state (live), the reason in words, the traceback below, every attempt with
// its worker and timings, its result, its logs (followed while it runs), and, in a flow,
// the flow's graph with every job in its run's state.

import { flowActions, runActions } from "../actions.js";
import { api, v1 } from "../api.js";
import {
  badge, base, between, card, h, json, link, put, span, table, when,
} from "../dom.js";
import { flowRunGraph } from "../flowgraph.js";
import { FAILURES, isEnded } from "../states.js";
import { reasonOf } from "../words.js";

function timings(run) {
  const row = (term, value) => [h("dt", {}, term), h("dd", {}, value)];
  const waited = between(run.queued_at, run.started_at || (isEnded(run.state) ? run.finished_at : null));
  return h("dl", { class: "facts" },
    row("Job", link(`${base}/jobs/${encodeURIComponent(run.job)}`, run.job)),
    row("Trigger", `${run.trigger}${run.retry_of ? " of " : ""}`,
      run.retry_of ? link(`${base}/runs/${run.retry_of}`, run.retry_of.slice(-8)) : null),
    row("Attempt", `${run.attempt} of ${run.max_attempts}`),
    row("Worker", run.worker_id || "—"),
    row("Pool, priority", `${run.pool}, ${run.priority}`),
    row("Created", when(run.created_at)),
    row("Scheduled for", when(run.scheduled_for)),
    row("Queued", when(run.queued_at)),
    row("Started", when(run.started_at)),
    row("Finished", when(run.finished_at)),
    row("Waited in queue", span(waited)),
    row("Ran for", span(between(run.started_at, run.finished_at))));
}

function outcome(run, stderrTail) {
  const failed = (FAILURES.includes(run.state) || run.state === "retrying") && run.error;
  const words = reasonOf(run);
  return h("div", { class: `outcome ${failed ? "bad" : ""}` },
    words ? h("p", { class: "reason-words", "data-testid": "reason" }, words) : null,
    failed && stderrTail ? h("div", {}, h("h3", {}, "Last lines of stderr"), h("pre", { class: "code" }, stderrTail)) : null,
    failed && run.error.traceback ? h("details", { open: true }, h("summary", {}, "Traceback"),
      h("pre", { class: "code", "data-testid": "traceback" }, run.error.traceback)) : null,
    run.result !== null && run.result !== undefined ? h("div", {}, h("h3", {}, "Result"), json(run.result)) : null);
}

/** Logs of one attempt, followed (by offsets) until the attempt ends. */
function logs(ctx, run, number, onTail) {
  const out = h("pre", { class: "code log", "data-testid": "stdout", tabindex: "0" });
  const err = h("pre", { class: "code log", "data-testid": "stderr", tabindex: "0" });
  const note = h("p", { class: "muted small" });
  let offsets = { stdout_offset: 0, stderr_offset: 0 };
  let stopped = false;
  ctx.onLeave(() => { stopped = true; });
  async function pull() {
    if (stopped) return;
    const got = await api(v1(`/runs/${run.id}/logs`), { params: { attempt: number, ...offsets } });
    const stick = out.scrollTop + out.clientHeight >= out.scrollHeight - 4;
    if (got.stdout) out.append(got.stdout);
    if (got.stderr) err.append(got.stderr);
    if (stick) out.scrollTop = out.scrollHeight;
    offsets = { stdout_offset: got.stdout_offset, stderr_offset: got.stderr_offset };
    note.textContent = got.done ? "The attempt has ended." : "Following live…";
    onTail(err.textContent.split("\n").slice(-8).join("\n").trim());
    if (!got.done) setTimeout(pull, 1000);
  }
  pull();
  return h("div", { class: "logs" }, note, h("h3", {}, "stdout"), out, h("h3", {}, "stderr"), err);
}

export async function render(ctx) {
  const id = ctx.params.id;
  const head = h("div", { class: "page-head" });
  const words = h("div", {});
  const facts = h("div", {});
  const attempts = h("div", {});
  const logBox = h("div", {});
  const flowBox = h("div", {});
  put(ctx.main, head,
    card("What happened", words),
    flowBox,
    h("div", { class: "grid" }, card("Timings", facts), card("Attempts", attempts)),
    card("Logs", logBox));
  let tail = "";
  let shownAttempt = null;
  let run = null;

  async function draw() {
    run = await api(v1(`/runs/${id}`));
    put(head, h("h1", {}, `Run ${id.slice(-8)}`), h("span", { "data-testid": "run-state" }, badge(run.state)),
      runActions(ctx, run, draw), h("p", { class: "muted small block" }, id));
    put(words, outcome(run, tail));
    put(facts, timings(run));
    put(attempts, table([
      { label: "#", cell: (a) => String(a.number) },
      { label: "Worker", cell: (a) => a.worker_id || "—" },
      { label: "State", cell: (a) => badge(a.state) },
      { label: "Started", cell: (a) => when(a.started_at) },
      { label: "Took", cell: (a) => span(between(a.started_at, a.finished_at)) },
      { label: "Error", cell: (a) => a.error ? `${a.error.type}: ${a.error.message}` : "—" },
      { label: "Logs", cell: (a) => h("button", { type: "button", class: "link", onclick: () => showLogs(a.number) }, "Show") },
    ], run.attempts || [], "No attempt yet: the run has not started."));
    if (run.attempt && shownAttempt !== run.attempt) showLogs(run.attempt);
  }

  function showLogs(number) {
    shownAttempt = number;
    put(logBox, h("p", { class: "muted" }, `Attempt ${number}`), logs(ctx, run, number, (text) => {
      if (text === tail) return;
      tail = text;
      put(words, outcome(run, tail));
    }));
  }

  /** The flow card, when the run is part of a flow: redrawn on events of the flow's jobs. */
  let flowJobs = new Set();
  let flowState = null;
  function drawFlow(flow) {
    flowJobs = new Set(flow.nodes.map((n) => n.job));
    flowState = flow.state;
    put(flowBox, card(`Flow ${flow.flow_id.slice(-8)}`,
      h("div", { class: "page-head" }, h("span", { "data-testid": "flow-state" }, badge(flow.state)),
        link(`${base}/runs/${flow.flow_id}`, "root run"), flowActions(ctx, flow, drawFlow)),
      flowRunGraph(flow, id)));
  }
  const pullFlow = async () => { if (run.flow_id) drawFlow(await api(v1(`/flows/${run.flow_id}`))); };

  await draw();
  await pullFlow();
  ctx.live(pullFlow, (event) => flowJobs.has(event.job), 300);
  ctx.live(draw, (event) => event.run_id === id, 50);
  ctx.every(5, () => {
    if (!isEnded(run.state)) draw();
    if (flowState === "running") pullFlow();
  });
}

// Flow graphs for the job and run pages, drawn by charts.graph: a job's graph from the API's
// flow route (edges carry their condition), and a flow run's graph with each job in its
// current run's state.

import { api, v1 } from "./api.js";
import { graph, legend } from "./charts.js";
import { base, h } from "./dom.js";

/** How many jobs upstream of a job are followed through depends_on. */
const UPSTREAM = 50;
const jobUrl = (name) => `${base}/jobs/${encodeURIComponent(name)}`;
const jobApi = (name) => v1(`/jobs/${encodeURIComponent(name)}`);

function conditions() {
  return legend([{ cls: "on-success", label: "on success" }, { cls: "on-failure", label: "on failure" },
    { cls: "on-completion", label: "on completion" }]);
}

/** The jobs above `job`, followed up through depends_on (up to UPSTREAM), by name. */
async function upstream(job) {
  const known = new Map([[job.name, job]]);
  const queue = job.spec.depends_on.map((d) => d.job);
  while (queue.length && known.size < UPSTREAM) {
    const name = queue.shift();
    if (known.has(name)) continue;
    const parent = await api(jobApi(name)).catch(() => null);
    known.set(name, parent);
    if (parent) queue.push(...parent.spec.depends_on.map((d) => d.job));
  }
  return known;
}

/**
 * A job's graph: its parents (followed up through depends_on) and every job downstream
 * of it (`GET /jobs/{name}/flow`), each node coloured by its job's last run; null when
 * the job has neither.
 */
export async function jobGraph(job) {
  const [above, flow] = await Promise.all([upstream(job), api(`${jobApi(job.name)}/flow`)]);
  const below = flow.nodes.map((n) => n.job).filter((name) => !above.has(name));
  const fetched = await Promise.all(below.map((name) => api(jobApi(name)).catch(() => null)));
  const jobs = new Map([...above]);
  below.forEach((name, i) => jobs.set(name, fetched[i]));
  const present = [...jobs].filter(([, j]) => j);
  if (present.length < 2) return null;
  const edges = [
    ...[...above.values()].filter(Boolean)
      .flatMap((j) => j.spec.depends_on.map((d) => ({ from: d.job, to: j.name, label: d.on }))),
    ...flow.edges.map((e) => ({ from: e.parent, to: e.child, label: e.on })),
  ].filter((e) => jobs.get(e.from) && jobs.get(e.to));
  const nodes = present.map(([name, j]) => {
    const state = j.last_run ? j.last_run.state : null;
    return {
      id: name, href: jobUrl(name), current: name === job.name, cls: state ? `n-${state}` : "",
      title: `${name}: ${state || "no run yet"}`, attrs: { "data-job": name },
    };
  });
  return h("div", {}, graph(nodes, edges), conditions());
}

/** Each job's current run in a flow run (`GET /flows/{id}` lists runs oldest first; a re-run replaces). */
export function currentRuns(flow) {
  const replaced = new Set(flow.runs.map((r) => r.retry_of).filter(Boolean));
  return new Map(flow.runs.filter((r) => !replaced.has(r.id)).map((r) => [r.job, r]));
}

/**
 * A flow run's graph: a node per job in its current run's state (as a word and a colour),
 * linking to that run; a skipped run's reason is in its title and under its name.
 */
export function flowRunGraph(flow, shownRunId) {
  const runs = currentRuns(flow);
  const nodes = flow.nodes.map((n) => {
    const run = runs.get(n.job);
    const state = run ? run.state : "none";
    const why = run && run.state === "skipped" && run.reason ? run.reason : "";
    return {
      id: n.job, href: run ? `${base}/runs/${run.id}` : jobUrl(n.job), cls: `n-${state}`,
      current: run && run.id === shownRunId, note: state.replace("_", " "),
      title: why ? `${n.job}: skipped: ${why}` : `${n.job}: ${state}`,
      attrs: { "data-job": n.job, "data-state": state, "data-reason": why || null },
    };
  });
  const edges = flow.edges.map((e) => ({ from: e.parent, to: e.child, label: e.on }));
  const skipped = nodes.filter((n) => n.attrs["data-reason"]);
  return h("div", { "data-testid": "flow-graph", "data-flow-state": flow.state },
    graph(nodes, edges), conditions(),
    skipped.length ? h("ul", { class: "skips small" }, skipped.map((n) =>
      h("li", {}, h("strong", {}, n.id), ` skipped: ${n.attrs["data-reason"]}`))) : null);
}

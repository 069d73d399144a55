// Workers: id, host, pools, labels, capacity and load, running runs, last heartbeat, state.

import { api, v1 } from "../api.js";
import { base, count, h, link, percent, put, table, when } from "../dom.js";

/** A worker's memory as "512 MiB" or "15.6 GiB". The API gives it in MB of 2^20 bytes (the
 * unit of `worker.memory` and of a job's `resources.memory`), not in bytes; 0 means the
 * worker could not tell. */
function memory(mib) {
  if (!mib) return "memory unknown";
  return mib < 1024 ? `${count(mib)} MiB` : `${(mib / 1024).toFixed(1)} GiB`;
}

export async function render(ctx) {
  const body = h("div", {});
  put(ctx.main, h("h1", {}, "Workers"), body);
  async function draw() {
    const page = await api(v1("/workers"), { params: { limit: 500 } });
    put(body, table([
      { label: "Worker", cell: (w) => w.id },
      { label: "Host", cell: (w) => `${w.hostname} (pid ${w.pid})` },
      { label: "Pools", cell: (w) => w.pools.join(", ") },
      { label: "Labels", cell: (w) => (w.labels || []).join(", ") || "—" },
      { label: "Capacity", cell: (w) => `${count(w.concurrency)} slots, ${w.cores} cores, ${memory(w.memory)}` },
      { label: "Load", cell: (w) => h("span", { class: "load" },
        h("meter", { min: 0, max: 1, value: w.load, "aria-label": "load" }), ` ${percent(w.load)}`) },
      { label: "Running", cell: (w) => w.running ? link(`${base}/runs?state=running`, count(w.running)) : "0" },
      { label: "Last heartbeat", cell: (w) => when(w.last_heartbeat) },
      { label: "State", cell: (w) => h("span", { class: `badge w-${w.state}` }, w.state) },
      { label: "Version", cell: (w) => w.version || "—" },
    ], page.items, "No worker has registered."));
  }
  await draw();
  ctx.every(5, draw);
  ctx.live(draw, () => true, 1000);
}

// Timeline: runs over time, one row per job (Gantt style), from a week down to an hour.

import { api, v1 } from "../api.js";
import { gantt, legend } from "../charts.js";
import { base, h, put, span, stamp } from "../dom.js";
import { FIRE_STATUSES, GAPS, gapMarks } from "../ledger.js";
import { label, pick } from "../states.js";

const ZOOMS = [[7 * 86400, "7 days"], [86400, "1 day"], [6 * 3600, "6 hours"], [3600, "1 hour"]];
/** Most scheduled jobs whose missed, paused and skipped fires are marked. */
const MARKED = 20;
/** Most runs drawn; a busier window says so. */
const MOST = 2000;
/** The states the legend explains; bars in the others take the same colours (dashboard.css). */
const KEYS = pick("succeeded", "failed", "timed_out", "running", "queued", "cancelled").map((s) =>
  ({ cls: `f-${s}`, label: label(s) }));

export async function render(ctx) {
  const q = ctx.query;
  const width = Number(q.get("window")) || 86400;
  const end = q.get("end") ? new Date(q.get("end")).getTime() : Date.now();
  const from = end - width * 1000;
  const go = (w, e) => {
    const out = new URLSearchParams({ window: String(w) });
    if (e) out.set("end", new Date(e).toISOString());
    ctx.navigate(`${base}/timeline?${out}`);
  };
  const body = h("div", {});
  put(ctx.main, h("h1", {}, "Timeline"),
    h("div", { class: "chips", role: "group", "aria-label": "Zoom" },
      ZOOMS.map(([w, label]) => h("button", {
        type: "button", class: w === width ? "chip on" : "chip", "aria-pressed": String(w === width),
        onclick: () => go(w, q.get("end") ? end : null),
      }, label)),
      h("button", { type: "button", class: "chip", onclick: () => go(width, end - width * 500) }, "‹ Earlier"),
      h("button", { type: "button", class: "chip", onclick: () => go(width, Math.min(Date.now(), end + width * 500)) }, "Later ›"),
      h("button", { type: "button", class: "chip", onclick: () => go(width, null) }, "Now")),
    h("p", { class: "muted" }, `${stamp(new Date(from).toISOString())} to ${stamp(new Date(end).toISOString())}`),
    body);

  let gaps = null;
  async function draw() {
    const runs = [];
    let cursor = null;
    do {
      const page = await api(v1("/runs"), { params: {
        since: new Date(from - 3600 * 1000).toISOString(), until: new Date(end).toISOString(),
        limit: 500, cursor,
      } });
      runs.push(...page.items);
      cursor = page.next_cursor;
    } while (cursor && runs.length < MOST);
    const rows = new Map();
    for (const r of runs) {
      const start = new Date(r.started_at || r.queued_at || r.created_at).getTime();
      const stop = r.finished_at ? new Date(r.finished_at).getTime() : Date.now();
      if (stop < from || start > end) continue;
      if (!rows.has(r.job)) rows.set(r.job, []);
      rows.get(r.job).push({
        start, end: Math.max(stop, start + width * 2), cls: `f-${r.state}`, href: `${base}/runs/${r.id}`,
        title: `${r.job} ${r.state}: ${stamp(new Date(start).toISOString())}, ${span((stop - start) / 1000)}`,
      });
    }
    // Fires that made no run (missed, paused, skipped, replaced) marked on their job's row:
    // for the scheduled jobs of the window, the first few of them.
    // Read again at most every 30 s: a live redraw follows every event.
    if (!gaps || Date.now() - gaps.at > 30000) {
      const jobs = await api(v1("/jobs"), { params: { limit: 500 } });
      const names = jobs.items.filter((j) => j.spec.schedule).map((j) => j.name).slice(0, MARKED);
      const found = await Promise.all(names.map((job) => gapMarks(job, from, end).catch(() => [])));
      gaps = { at: Date.now(), names, found };
    }
    const { names: scheduled, found: marks } = gaps;
    scheduled.forEach((job, i) => {
      if (!marks[i].length) return;
      if (!rows.has(job)) rows.set(job, []);
      rows.get(job).push(...marks[i]);
    });
    const list = [...rows].sort(([a], [b]) => a.localeCompare(b)).map(([job, bars]) => ({
      label: job, href: `${base}/jobs/${encodeURIComponent(job)}`, bars,
    }));
    put(body,
      list.length ? gantt(list, { from, to: end, label: "runs per job over time" })
        : h("p", { class: "muted empty" }, "No run in this window."),
      legend([...KEYS, ...FIRE_STATUSES.filter(([s]) => GAPS.includes(s)).map(([s, words]) => ({ cls: `fs-${s}`, label: `fire ${words}` }))]),
      cursor ? h("p", { class: "muted small" }, `Showing the newest ${MOST} runs of this window.`) : null);
  }
  await draw();
  if (!q.get("end")) ctx.live(draw, () => true, 1000);
}

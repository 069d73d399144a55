// The fire ledger: every fire a job's schedule intended and what became of it, as a strip
// over the window (a mark per fire, coloured by status, so gaps show at a glance) and a
// list; the job's backfills (operators stop an active one); the backfill dialog for admins
// (a dry run first, then a confirm); and the marks the timeline lays over its rows.

import { api, v1 } from "./api.js";
import { legend } from "./charts.js";
import { base, h, link, put, stamp, svg, table } from "./dom.js";
import { iso, local } from "./filters.js";

/** Each status's words and mark class (dashboard.css `.fs-<status>`). */
export const FIRE_STATUSES = Object.freeze([
  ["fired", "fired"], ["backfilled", "backfilled"], ["skipped", "skipped"],
  ["replaced", "replaced"], ["missed", "missed"], ["paused", "paused"],
  ["pruned", "pruned"], ["due", "due"], ["upcoming", "upcoming"],
]);
/** The statuses that mean nothing ran at that time: what a reader looks for. */
export const GAPS = Object.freeze(["missed", "paused", "skipped", "replaced"]);
const WINDOWS = [[3600, "1 hour"], [6 * 3600, "6 hours"], [86400, "1 day"], [7 * 86400, "7 days"]];
const W = 640;

const firesUrl = (name) => v1(`/jobs/${encodeURIComponent(name)}/fires`);
const backfillsUrl = (name) => v1(`/jobs/${encodeURIComponent(name)}/backfills`);

/** The status counts of a ledger page as words: "3 fired, 1 missed". */
export function countWords(counts) {
  const parts = Object.entries(counts || {}).map(([status, n]) => `${n} ${status}`);
  return parts.length ? parts.join(", ") : "no fires in this window";
}

/** A strip over [from, to] (ms): a mark per fire, its status as its class and title. */
export function fireStrip(fires, { from, to, label }) {
  const height = 44;
  const chart = svg("svg", {
    viewBox: `0 0 ${W} ${height}`, class: "chart fire-strip", role: "img", "aria-label": label,
  });
  chart.append(svg("line", { x1: 0, x2: W, y1: 22, y2: 22, class: "grid" }));
  for (const fire of fires) {
    const t = new Date(fire.at).getTime();
    const x = ((t - from) / Math.max(1, to - from)) * (W - 4) + 2;
    const gap = GAPS.includes(fire.status);
    chart.append(svg("rect", {
      x: x - 1.5, y: gap ? 4 : 12, width: 3, height: gap ? 36 : 20,
      class: `fs-${fire.status}`, "data-status": fire.status,
    }, svg("title", {}, `${stamp(fire.at)}: ${fire.words}`)));
  }
  const tick = (f, anchor) => svg("text", { x: f * W, y: height - 1, class: "tick", "text-anchor": anchor },
    stamp(new Date(from + (to - from) * f).toISOString()).slice(5, 16));
  chart.append(tick(0, "start"), tick(1, "end"));
  return chart;
}

/** The list of fires: time, status, what became of it (and the run). */
export function fireTable(fires) {
  return table([
    { label: "Time", cell: (f) => h("time", { datetime: f.at }, stamp(f.at)) },
    { label: "Status", cell: (f) => h("span", { class: `fire-status fs-${f.status}` }, f.status) },
    { label: "What", cell: (f) => h("span", {}, f.words, f.dst ? h("span", { class: "muted block" }, f.dst) : null) },
    { label: "Run", cell: (f) => (f.run_id ? link(`${base}/runs/${f.run_id}`, f.run_id.slice(-8)) : "—") },
  ], fires, "No fire in this window.");
}

/** The fires a backfill asked for, as words: one time, or the first and the last. */
export function backfillSpan(b) {
  if (!b.first) return "—";
  return b.first === b.last ? stamp(b.first) : `${stamp(b.first)} – ${stamp(b.last)}`;
}

/** The job's backfills, newest first: when, by whom, the fires, how many were made and the
 * state; for operators a Stop button on an active one (`done()` redraws). */
export function backfillTable(ctx, name, backfills, done) {
  const stop = (b) => h("button", { type: "button", "data-action": "stop-backfill", onclick: async () => {
    const url = `${backfillsUrl(name)}/${encodeURIComponent(b.id)}/stop`;
    if (await ctx.act(`Stop backfill ${b.id.slice(0, 8)}`, () => api(url, { method: "POST" }))) await done();
  } }, "Stop");
  const columns = [
    { label: "Backfill", cell: (b) => h("code", { title: b.id }, b.id.slice(0, 8)) },
    { label: "Created", cell: (b) => h("time", { datetime: b.created_at }, stamp(b.created_at)) },
    { label: "By", cell: (b) => b.actor },
    { label: "Fires", cell: (b) => backfillSpan(b) },
    { label: "Made", cell: (b) => h("span", { "data-testid": "backfill-made" }, `${b.made}/${b.count}`) },
    { label: "At once", cell: (b) => (b.max_active == null ? "all" : String(b.max_active)) },
    { label: "State", cell: (b) => h("span", { class: `backfill-state bf-${b.state}`, "data-state": b.state }, b.state) },
  ];
  if (ctx.can("operator")) columns.push({ label: "Action", cell: (b) => (b.state === "active" ? stop(b) : null) });
  return table(columns, backfills, "No backfill.");
}

/**
 * The Fires card of job `name`: window chips, the strip, the counts, the list, the job's
 * newest backfills (if any), and for admins a Backfill button. `draw()` (re)loads it.
 */
export function jobFires(ctx, name) {
  const box = h("div", { "data-testid": "fires" });
  let width = 86400;
  const body = h("div", {});
  const chips = h("div", { class: "chips", role: "group", "aria-label": "Fires window" });
  const drawChips = () => put(chips, WINDOWS.map(([w, words]) => h("button", {
    type: "button", class: w === width ? "chip on" : "chip", "aria-pressed": String(w === width),
    onclick: () => { width = w; drawChips(); draw(); },
  }, words)), ctx.can("admin") ? h("button", { type: "button", class: "chip", "data-action": "backfill",
    onclick: () => backfillDialog(ctx, name, draw) }, "Backfill…") : null);
  drawChips();
  put(box, chips, body);
  async function draw() {
    const now = Date.now();
    const from = now - width * 1000;
    // A little ahead (a 24th of the window, at most 10 minutes): the next fires, not a crowd.
    const to = now + Math.min(width / 24, 600) * 1000;
    const [page, backfills] = await Promise.all([
      api(firesUrl(name), { params: {
        since: new Date(from).toISOString(), until: new Date(to).toISOString(), limit: 1000,
      } }),
      api(backfillsUrl(name), { params: { limit: 20 } }),
    ]);
    // The list: the next few fires, then the past ones newest first.
    const past = page.fires.filter((f) => new Date(f.at).getTime() <= now).reverse();
    const ahead = page.fires.filter((f) => new Date(f.at).getTime() > now).slice(0, 5).reverse();
    const newest = [...ahead, ...past];
    put(body,
      fireStrip(page.fires, { from, to, label: `fires of ${name}: ${countWords(page.counts)}` }),
      legend(FIRE_STATUSES.map(([s, words]) => ({ cls: `fs-${s}`, label: words }))),
      h("p", { class: "muted", "data-testid": "fire-counts" }, countWords(page.counts),
        page.truncated ? " (the first 1000 fires of the window)" : ""),
      fireTable(newest.slice(0, 200)),
      backfills.items.length ? h("div", { "data-testid": "backfills" },
        h("h3", {}, "Backfills"), backfillTable(ctx, name, backfills.items, draw)) : null);
  }
  return { box, draw };
}

/** The backfill dialog: a window and options, a dry run listing the fires, then a confirm. */
export function backfillDialog(ctx, name, done) {
  const now = Date.now();
  const fromInput = h("input", { type: "datetime-local", id: "bf-from", name: "from",
    value: local(new Date(now - 86400 * 1000).toISOString()) });
  const toInput = h("input", { type: "datetime-local", id: "bf-to", name: "to", value: local(new Date(now).toISOString()) });
  const onlyMissed = h("input", { type: "checkbox", id: "bf-missed", name: "only_missed" });
  const maxActive = h("input", { type: "number", id: "bf-max", name: "max_active", min: 1, max: 1000, placeholder: "all at once" });
  const error = h("p", { class: "error", role: "alert" });
  const preview = h("div", { "data-testid": "backfill-preview" });
  const confirm = h("button", { type: "button", class: "primary", "data-action": "confirm-backfill", disabled: true }, "Backfill");
  const close = () => { dialog.close(); dialog.remove(); };
  const body = (dry) => ({
    from: iso(fromInput.value), to: iso(toInput.value), only_missed: onlyMissed.checked, dry_run: dry,
    max_active: maxActive.value ? Number(maxActive.value) : null,
  });
  const url = v1(`/jobs/${encodeURIComponent(name)}/backfill`);
  async function dryRun(event) {
    event.preventDefault();
    error.textContent = "";
    confirm.disabled = true;
    try {
      const result = await api(url, { method: "POST", body: body(true) });
      put(preview, h("p", {}, result.count
        ? `${result.count} fire(s) would be made:` : "Nothing to make: every fire in this window has a run."),
      result.count ? h("ol", { class: "times" }, result.fires.slice(0, 100).map((f) => h("li", {}, stamp(f)))) : null,
      result.count > 100 ? h("p", { class: "muted" }, `…and ${result.count - 100} more`) : null);
      confirm.disabled = !result.count;
      confirm.textContent = `Backfill ${result.count} fire(s)`;
    } catch (e) {
      error.textContent = e.message;
    }
  }
  confirm.addEventListener("click", async () => {
    try {
      const result = await api(url, { method: "POST", body: body(false) });
      close();
      ctx.status(`Backfill of ${name}: ${result.count} fire(s), ${result.created} made now`, "ok");
      await done();
    } catch (e) {
      error.textContent = e.message;
    }
  });
  const dialog = h("dialog", { class: "card", "aria-labelledby": "bf-title" },
    h("form", { method: "dialog", onsubmit: dryRun },
      h("h2", { id: "bf-title" }, `Backfill ${name}`),
      h("p", { class: "muted" }, "Makes the past fires in the window that have no run, each at most once. See which first."),
      h("label", { for: "bf-from" }, "From"), fromInput,
      h("label", { for: "bf-to" }, "To (not in the future)"), toInput,
      h("label", { for: "bf-missed" }, onlyMissed, " Only missed fires (not paused ones)"),
      h("label", { for: "bf-max" }, "At most this many active at once"), maxActive,
      error, preview,
      h("p", { class: "actions" },
        h("button", { type: "submit", "data-action": "dry-run" }, "Show the fires"),
        confirm,
        h("button", { type: "button", onclick: close }, "Cancel"))));
  document.body.append(dialog);
  dialog.showModal();
}

/** The gap marks of one job over [from, to] for the timeline (at most 500 fires read):
 * bars of the timeline's Gantt, thin, one per missed, paused, skipped or replaced fire. */
export async function gapMarks(job, from, to) {
  const page = await api(firesUrl(job), { params: {
    since: new Date(from).toISOString(), until: new Date(to).toISOString(), limit: 500,
  } });
  return page.fires.filter((f) => GAPS.includes(f.status)).map((f) => {
    const t = new Date(f.at).getTime();
    return { start: t, end: t, cls: `fs-${f.status}`, href: `${base}/jobs/${encodeURIComponent(job)}`,
      title: `${job} ${stamp(f.at)}: ${f.words}` };
  });
}

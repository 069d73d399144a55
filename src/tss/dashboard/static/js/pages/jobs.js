// Jobs: every job with its schedule in words, next run, last state and success rate;
// search by name prefix, filters, sort, and cursor paging (fast at 100,000 jobs).

import { jobActions, pager } from "../actions.js";
import { api, v1 } from "../api.js";
import { badge, base, h, link, percent, put, table, when } from "../dom.js";
import { field, filterForm, select } from "../filters.js";
import { bulkActions, pauseCell } from "../pauses.js";
import { STATES } from "../states.js";

const SORTS = [
  ["name", "Name A–Z"], ["-name", "Name Z–A"], ["next_fire_at", "Next run, soonest"],
  ["-next_fire_at", "Next run, latest"], ["-updated_at", "Recently changed"],
  ["-created_at", "Newest"], ["created_at", "Oldest"],
];
const LAST = ["", ...STATES];

/** Every column the Jobs table can show; the config picks and orders them. */
function columns(ctx, health, redraw) {
  const all = {
    name: { label: "Name", cell: (j) => h("span", {},
      link(`${base}/jobs/${encodeURIComponent(j.name)}`, j.name),
      j.paused ? h("span", { class: "tag" }, "paused") : null,
      pauseCell(j),
      j.spec.description ? h("span", { class: "muted small block" }, j.spec.description) : null) },
    type: { label: "Type", cell: (j) => j.spec.type },
    schedule: { label: "Schedule", cell: (j) => j.spec.schedule
      ? h("span", {}, j.schedule, h("code", { class: "muted small block" }, raw(j.spec.schedule)))
      : h("span", { class: "muted" }, "on demand") },
    next_run: { label: "Next run", cell: (j) => j.paused
      ? h("span", { class: "muted" }, j.pause && j.pause.until ? ["paused until ", when(j.pause.until)] : "paused")
      : when(j.next_fire_at) },
    last_state: { label: "Last run", cell: (j) => j.last_run
      ? link(`${base}/runs/${j.last_run.id}`, badge(j.last_run.state)) : badge(null) },
    success_rate: { label: "Success", cell: (j) => {
      const got = health.get(j.name);
      return got && got.ended ? h("span", { title: `${got.succeeded} of the last ${got.ended} ended runs` },
        percent(got.success_rate)) : h("span", { class: "muted" }, "—");
    } },
    pool: { label: "Pool", cell: (j) => j.spec.pool },
  };
  const chosen = ctx.config.job_columns.map((c) => all[c]);
  if (ctx.can("operator")) chosen.push({ label: "Actions", cell: (j) => jobActions(ctx, j, redraw) });
  return chosen;
}

/** A schedule as the user wrote it. */
export function raw(schedule) {
  if (schedule.cron) return `cron ${schedule.cron} ${schedule.timezone}`;
  if (schedule.every) return `every ${schedule.every}s`;
  if (schedule.at) return `at ${schedule.at}`;
  return `delay ${schedule.delay}s`;
}

/** The jobs filter as a query: every field that is filled in. */
function encode(data) {
  const out = new URLSearchParams();
  for (const [key, value] of data) if (value) out.set(key, value);
  return out;
}

function filters(ctx) {
  const q = ctx.query;
  return filterForm(ctx, "jobs", encode,
  field("Name starts with", h("input", { type: "search", name: "prefix", value: q.get("prefix") || "" })),
  field("Pool", h("input", { name: "pool", value: q.get("pool") || "", size: 10 })),
  field("Tag", h("input", { name: "tag", value: q.get("tag") || "", size: 10 })),
  field("Last run", select("last_state", LAST.map((s) => [s, s || "any"]), q.get("last_state") || "")),
  field("Paused", select("paused", [["", "any"], ["true", "paused"], ["false", "active"]], q.get("paused") || "")),
  field("Sort", select("sort", SORTS, q.get("sort") || "name")));
}

export async function render(ctx) {
  const body = h("div", {});
  put(ctx.main, h("h1", {}, "Jobs"), filters(ctx), body);
  const q = ctx.query;

  async function draw() {
    const page = await api(v1("/jobs"), { params: {
      prefix: q.get("prefix"), pool: q.get("pool"), tag: q.get("tag"),
      last_state: q.get("last_state"), paused: q.get("paused"),
      sort: q.get("sort") || "name", cursor: q.get("cursor"), limit: ctx.config.page_size,
    } });
    let health = new Map();
    if (ctx.config.job_columns.includes("success_rate") && page.items.length) {
      const got = await api(v1("/stats/jobs"), { params: { job: page.items.map((j) => j.name) } });
      health = new Map(got.items.map((i) => [i.job, i]));
    }
    put(body, bulkActions(ctx, draw), table(columns(ctx, health, draw), page.items, "No job matches."),
      pager(ctx, page, page.items.length));
    return page;
  }

  const page = await draw();
  const names = () => new Set(page.items.map((j) => j.name));
  ctx.live(draw, (event) => names().has(event.job), 1000);
}

// Alerts: what was raised, to which channel, and whether it was delivered (newest first,
// filtered by job, state and channel, paged by cursor; each opens to its text and error),
// and the jobs whose alerts are silenced now, which operators can end.

import { endSilence, pager } from "../actions.js";
import { ALERT_STATES, alertTable } from "../alerts.js";
import { api, v1 } from "../api.js";
import { base, card, h, link, put, table, when } from "../dom.js";
import { field, filterForm, select } from "../filters.js";

/** The alerts filter as a query: a job, a state, a channel. */
function encode(data) {
  const out = new URLSearchParams();
  for (const key of ["job", "state", "channel"]) {
    const value = String(data.get(key) || "").trim();
    if (value) out.set(key, value);
  }
  return out;
}

function filters(ctx) {
  const q = ctx.query;
  return filterForm(ctx, "alerts", encode,
    field("Job", h("input", { type: "search", name: "job", value: q.get("job") || "" })),
    field("State", select("state", [["", "any"], ...ALERT_STATES.map((s) => [s, s])], q.get("state") || "")),
    field("Channel", h("input", { type: "search", name: "channel", value: q.get("channel") || "" })));
}

export async function render(ctx) {
  const q = ctx.query;
  const silencesBox = h("div", { "data-testid": "silences" });
  const alertsBox = h("div", { "data-testid": "alerts" });
  /** Alerts the viewer opened: kept open across redraws. */
  const open = new Set();
  put(ctx.main, h("h1", {}, "Alerts"),
    card("Silenced jobs", silencesBox),
    filters(ctx),
    alertsBox);

  async function drawSilences() {
    const { items } = await api(v1("/silences"));
    const columns = [
      { label: "Job", cell: (s) => link(`${base}/jobs/${encodeURIComponent(s.job)}`, s.job) },
      { label: "Until", cell: (s) => when(s.until) },
      { label: "By", cell: (s) => s.by },
      { label: "Note", cell: (s) => s.note ? h("span", { class: "reason" }, s.note) : h("span", { class: "muted" }, "—") },
    ];
    if (ctx.can("operator")) columns.push({ label: "Action", cell: (s) => endSilence(ctx, s.job, draw) });
    put(silencesBox, table(columns, items, "No job is silenced."));
  }

  async function drawAlerts() {
    const page = await api(v1("/alerts"), { params: {
      job: q.get("job"), state: q.get("state"), channel: q.get("channel"),
      cursor: q.get("cursor"), limit: ctx.config.page_size,
    } });
    put(alertsBox, alertTable(page.items, open, { empty: "No alert matches." }),
      pager(ctx, page, page.items.length));
  }

  async function draw() {
    await Promise.all([drawSilences(), drawAlerts()]);
  }

  await draw();
  if (!q.get("cursor")) {
    // Alerts follow run events (a failure, a recovery) a moment later, and some follow the
    // clock (late, missed, backlog): redraw after events and, when live, every 10 s.
    ctx.live(draw, () => true, 1500);
    if (ctx.config.refresh === "live") ctx.every(10, draw);
  }
}

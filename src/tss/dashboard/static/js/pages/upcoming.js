// Upcoming: the next fires of every unpaused job over an hour to a week, the load per minute
// as a chart (a pile-up at the top of the hour shows before it happens), the busiest
// minutes, and the next fires.

import { api, v1 } from "../api.js";
import { stackedBars } from "../charts.js";
import { base, h, link, put, stamp, table } from "../dom.js";

const HORIZONS = [[1, "1 hour"], [6, "6 hours"], [24, "1 day"], [168, "7 days"]];

export async function render(ctx) {
  const q = ctx.query;
  const hours = Number(q.get("hours")) || 24;
  const body = h("div", { "data-testid": "upcoming" });
  put(ctx.main, h("h1", {}, "Upcoming"),
    h("div", { class: "chips", role: "group", "aria-label": "Horizon" },
      HORIZONS.map(([n, words]) => h("button", {
        type: "button", class: n === hours ? "chip on" : "chip", "aria-pressed": String(n === hours),
        onclick: () => ctx.navigate(`${base}/upcoming?hours=${n}`),
      }, words))),
    body);
  async function draw() {
    const found = await api(v1("/upcoming"), { params: { hours, limit: 50 } });
    const from = new Date(found.now).getTime();
    const to = new Date(found.until).getTime();
    // Per minute over a day or less; a week is drawn per hour (the peaks stay per minute).
    const width = hours > 24 ? 3600 * 1000 : 60 * 1000;
    const buckets = new Map();
    for (const { minute, count } of found.load) {
      const at = Math.floor(new Date(minute).getTime() / width) * width;
      buckets.set(at, (buckets.get(at) || 0) + count);
    }
    const per = hours > 24 ? "hour" : "minute";
    put(body,
      h("p", { class: "muted", "data-testid": "upcoming-total" },
        `${found.total} fire(s) in the next ${hours} hour(s)`),
      stackedBars([...buckets].map(([at, n]) => ({ at: new Date(at).toISOString(), parts: { fires: n } })),
        [{ name: "fires", cls: "f-queued", label: `fires this ${per}` }],
        { from, to, width, label: `fires per ${per}` }),
      h("h2", {}, "Busiest minutes"),
      table([
        { label: "Minute", cell: (p) => stamp(p.minute).slice(0, 16) },
        { label: "Fires", cell: (p) => String(p.count) },
      ], found.peaks, "No fire in this window."),
      found.capped.length ? h("p", { class: "muted small" },
        `Counted at most ${found.per_job} fires of: ${found.capped.join(", ")}`) : null,
      found.uncounted.length ? h("p", { class: "muted small" },
        `Not counted (too many fires in all): ${found.uncounted.join(", ")}`) : null,
      h("h2", {}, "Next fires"),
      table([
        { label: "Time", cell: (f) => stamp(f.at) },
        { label: "Job", cell: (f) => link(`${base}/jobs/${encodeURIComponent(f.job)}`, f.job) },
      ], found.fires, "No fire in this window."));
  }
  await draw();
  ctx.live(draw, () => false, 60000);
}

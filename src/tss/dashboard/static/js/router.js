// Which page a URL shows: the pages of the menu, the page and parameters of each path, and
// the module that draws each page (loaded when first shown).

import { base } from "./dom.js";

/** The pages of the menu, in its order (the config's `pages` picks which are on). */
export const PAGES = Object.freeze([
  { id: "overview", label: "Overview", path: "" },
  { id: "jobs", label: "Jobs", path: "jobs" },
  { id: "runs", label: "Runs", path: "runs" },
  { id: "flows", label: "Flows", path: "flows" },
  { id: "timeline", label: "Timeline", path: "timeline" },
  { id: "upcoming", label: "Upcoming", path: "upcoming" },
  { id: "workers", label: "Workers", path: "workers" },
  { id: "dead-letters", label: "Dead letters", path: "dead-letters" },
  { id: "alerts", label: "Alerts", path: "alerts" },
  { id: "audit", label: "Audit", path: "audit", role: "admin" },
]);

/**
 * Which page a path shows: `{page, of, id?}`, where `of` is the menu entry it belongs to
 * (null for a path that is no page: `page` is then "missing").
 */
export function resolve(pathname) {
  const rest = pathname.startsWith(base) ? pathname.slice(base.length).replace(/^\/+/, "") : "";
  const [first = "", ...more] = rest.split("/").map(decodeURIComponent);
  if (first === "jobs" && more[0]) return { page: "job", of: "jobs", id: more.join("/") };
  if (first === "runs" && more[0]) return { page: "run", of: "runs", id: more[0] };
  const found = PAGES.find((p) => p.path === first);
  return found ? { page: found.id, of: found.id } : { page: "missing", of: null };
}

/** Each page's module; it exports `render(ctx)` (see context.js). */
export const loaders = {
  overview: () => import("./pages/overview.js"),
  jobs: () => import("./pages/jobs.js"),
  job: () => import("./pages/job.js"),
  runs: () => import("./pages/runs.js"),
  run: () => import("./pages/run.js"),
  flows: () => import("./pages/flows.js"),
  timeline: () => import("./pages/timeline.js"),
  upcoming: () => import("./pages/upcoming.js"),
  workers: () => import("./pages/workers.js"),
  "dead-letters": () => import("./pages/dead.js"),
  alerts: () => import("./pages/alerts.js"),
  audit: () => import("./pages/audit.js"),
};

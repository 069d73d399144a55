// Audit: every write, who made it and when (newest first, filtered by actor, action and
// time, paged by cursor). For admins only: the server refuses other roles.

import { pager } from "../actions.js";
import { api, v1 } from "../api.js";
import { base, h, link, put, table, when } from "../dom.js";
import { field, filterForm, iso, local, select } from "../filters.js";
import { detailWords } from "../history.js";

/** The audit filter as a query: an actor, an action, a time from which. */
function encode(data) {
  const out = new URLSearchParams();
  for (const key of ["actor", "action"]) {
    const value = String(data.get(key) || "").trim();
    if (value) out.set(key, value);
  }
  if (data.get("since")) out.set("since", iso(data.get("since")));
  return out;
}

function filters(ctx) {
  const q = ctx.query;
  const actions = ctx.config.audit_actions || [];
  return filterForm(ctx, "audit", encode,
    field("Actor", h("input", { type: "search", name: "actor", value: q.get("actor") || "",
      placeholder: "token:NAME, cli, config…" })),
    field("Action", select("action", [["", "any"], ...actions.map((a) => [a, a])], q.get("action") || "")),
    field("Since", h("input", { type: "datetime-local", name: "since", value: local(q.get("since")) })));
}

/** Where an entry's target leads: a job's page, a run's page, or nowhere. */
function targetCell(entry) {
  const [kind] = entry.action.split(".");
  if (kind === "job" || kind === "silence") return link(`${base}/jobs/${encodeURIComponent(entry.target)}`, entry.target);
  if (kind === "run") {
    return entry.action === "run.trigger"
      ? link(`${base}/jobs/${encodeURIComponent(entry.target)}`, entry.target)
      : link(`${base}/runs/${encodeURIComponent(entry.target)}`, entry.target);
  }
  return entry.target;
}

export async function render(ctx) {
  if (!ctx.can("admin")) {
    put(ctx.main, h("h1", {}, "Audit"), h("p", { class: "muted" }, "The audit log is for admins."));
    return;
  }
  const q = ctx.query;
  const body = h("div", { "data-testid": "audit" });
  put(ctx.main, h("h1", {}, "Audit"), filters(ctx), body);
  async function draw() {
    const page = await api(v1("/audit"), { params: {
      actor: q.get("actor"), action: q.get("action"), since: q.get("since"),
      cursor: q.get("cursor"), limit: ctx.config.page_size,
    } });
    put(body, table([
      { label: "When", cell: (e) => when(e.at) },
      { label: "Actor", cell: (e) => e.actor },
      { label: "Action", cell: (e) => h("code", {}, e.action) },
      { label: "Target", cell: targetCell },
      { label: "Details", cell: (e) => h("span", { class: "muted small" }, detailWords(e.details)) },
    ], page.items, "No entry matches."), pager(ctx, page, page.items.length));
  }
  await draw();
  if (!q.get("cursor")) ctx.live(draw, () => true, 1500);
}

// What changed, and who: a job's versions (who, when, what kind of change) with the diff of
// each against the one before, a rollback for admins; and the words of the audit log. The
// server masks env and header values for roles below admin, in versions and diffs alike.

import { api, v1 } from "./api.js";
import { h, put, table, when } from "./dom.js";

/** Short words for a version's change. */
export const CHANGE_WORDS = Object.freeze({
  created: "created",
  updated: "updated",
  deleted: "deleted",
  rolled_back: "rolled back",
});

/** A value of a definition as one line of text ("—" for none). */
export function shown(value) {
  if (value === null || value === undefined) return "—";
  return typeof value === "string" ? value : JSON.stringify(value);
}

/** One diff row's words: `path: old → new`, or added/removed. */
export function changeWords(change) {
  if (change.kind === "added") return `${change.path}: added ${shown(change.new)}`;
  if (change.kind === "removed") return `${change.path}: removed (was ${shown(change.old)})`;
  return `${change.path}: ${shown(change.old)} → ${shown(change.new)}`;
}

/** An audit entry's details as `key=value` pairs. */
export function detailWords(details) {
  const keys = Object.keys(details || {});
  return keys.length ? keys.map((k) => `${k}=${shown(details[k])}`).join(", ") : "—";
}

/** The diff of a version (GET …/versions/{v}): a table of path, before, after. */
export function diffTable(detail) {
  const title = detail.against
    ? `Version ${detail.version} against version ${detail.against}`
    : `Version ${detail.version} (the first)`;
  return h("div", { class: "diff", "data-testid": "diff" },
    h("h3", {}, title),
    table([
      { label: "Path", cell: (c) => h("code", {}, c.path) },
      { label: "Before", cell: (c) => h("code", { class: "diff-old" }, shown(c.old)) },
      { label: "After", cell: (c) => h("code", { class: "diff-new" }, shown(c.new)) },
    ], detail.changes, "No differences."));
}

const versionsUrl = (name) => v1(`/jobs/${encodeURIComponent(name)}/versions`);

/** A yes/no question in a dialog of the page's own; `yes()` runs on yes. */
function confirmRollback(question, yes) {
  const dialog = h("dialog", { class: "card", "aria-labelledby": "rollback-title" });
  const close = () => { dialog.close(); dialog.remove(); };
  put(dialog, h("form", { method: "dialog", onsubmit: async (event) => {
    event.preventDefault();
    close();
    await yes();
  } },
  h("h2", { id: "rollback-title" }, question),
  h("p", {}, "The job gets that version's definition again, recorded as a new version; a paused job stays paused."),
  h("p", { class: "actions" },
    h("button", { type: "submit", class: "primary", "data-action": "confirm-rollback" }, "Roll back"),
    h("button", { type: "button", onclick: close }, "Cancel"))));
  document.body.append(dialog);
  dialog.showModal();
}

/**
 * The History card's body for job `name`: its versions newest first; "Diff" shows what a
 * version changed; admins may roll back to any version but the newest (then `done()`).
 */
export function jobHistory(ctx, name, done) {
  const box = h("div", { "data-testid": "versions" });
  const diffBox = h("div", {});
  async function showDiff(version) {
    const detail = await api(`${versionsUrl(name)}/${version}`);
    put(diffBox, diffTable(detail));
  }
  async function rollback(version) {
    const out = await ctx.act(`Roll ${name} back to version ${version}`, () =>
      api(v1(`/jobs/${encodeURIComponent(name)}/rollback`), { method: "POST", body: { to: version } }));
    if (out) {
      await draw();
      if (done) await done();
    }
  }
  async function draw() {
    const { items } = await api(versionsUrl(name));
    const newest = items.length ? items[0].version : null;
    const columns = [
      { label: "Version", cell: (v) => String(v.version) },
      { label: "Change", cell: (v) => CHANGE_WORDS[v.change] || v.change },
      { label: "By", cell: (v) => v.actor },
      { label: "When", cell: (v) => when(v.at) },
      { label: "", cell: (v) => h("span", { class: "actions" },
        h("button", { type: "button", "data-diff": v.version,
          onclick: () => showDiff(v.version) }, "Diff"),
        ctx.can("admin") && v.spec && v.version !== newest
          ? h("button", { type: "button", "data-action": "rollback", "data-version": v.version,
            onclick: () => confirmRollback(`Roll ${name} back to version ${v.version}?`, () => rollback(v.version)) },
          "Roll back")
          : null) },
    ];
    put(box, table(columns, items, "No versions recorded."), diffBox);
  }
  return { box, draw };
}

import "./page.js";
import assert from "node:assert/strict";
import { test } from "node:test";
import { CHANGE_WORDS, changeWords, detailWords, shown } from "../../src/tss/dashboard/static/js/history.js";

test("a value is shown on one line: text as is, the rest as JSON, none as a dash", () => {
  assert.equal(shown("0 2 * * *"), "0 2 * * *");
  assert.equal(shown(3), "3");
  assert.equal(shown({ PW: "***" }), '{"PW":"***"}');
  assert.equal(shown(null), "—");
  assert.equal(shown(undefined), "—");
});

test("a change in words says what it was and what it became", () => {
  assert.equal(changeWords({ path: "priority", kind: "changed", old: 1, new: 4 }), "priority: 1 → 4");
  assert.equal(changeWords({ path: "tags", kind: "added", old: null, new: ["a"] }), 'tags: added ["a"]');
  assert.equal(changeWords({ path: "timeout", kind: "removed", old: 60, new: null }), "timeout: removed (was 60)");
});

test("audit details read as key=value pairs", () => {
  assert.equal(detailWords({ to: 1, note: "disk full" }), "to=1, note=disk full");
  assert.equal(detailWords({}), "—");
  assert.equal(detailWords(null), "—");
});

test("every change a version records has words", () => {
  for (const change of ["created", "updated", "deleted", "rolled_back"]) assert.ok(CHANGE_WORDS[change]);
});

import "./page.js";
import assert from "node:assert/strict";
import { test } from "node:test";
import { iso, local } from "../../src/tss/dashboard/static/js/filters.js";

test("a datetime-local value and an ISO time convert both ways", () => {
  assert.equal(iso(""), null);
  assert.equal(local(null), "");
  const typed = "2026-11-23T10:05";
  assert.equal(local(iso(typed)), typed);
  assert.match(iso(typed), /^\d{4}-\d\d-\d\dT\d\d:\d\d:00\.000Z$/);
});

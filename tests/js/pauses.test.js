import "./page.js";
import assert from "node:assert/strict";
import { test } from "node:test";
import { MAX_NOTE, selectionWords, shortNote } from "../../src/tss/dashboard/static/js/pauses.js";

test("a note is cut to its width with an ellipsis, and kept whole when it fits", () => {
  assert.equal(shortNote("disk full", 60), "disk full");
  assert.equal(shortNote("x".repeat(60), 60), "x".repeat(60));
  const cut = shortNote("y".repeat(61), 60);
  assert.equal(cut.length, 60);
  assert.ok(cut.endsWith("…"));
  assert.equal(shortNote(null), "");
  assert.equal(shortNote(""), "");
});

test("the longest note is the server's", () => {
  assert.equal(MAX_NOTE, 500);
});

test("a bulk selection in words names its filters, or every job", () => {
  assert.equal(selectionWords({ prefix: "etl.", tag: "nightly" }), "prefix etl., tag nightly");
  assert.equal(selectionWords({ pool: "gpu" }), "pool gpu");
  assert.equal(selectionWords({ all: true }), "every job");
});

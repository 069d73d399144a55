import "./page.js";
import assert from "node:assert/strict";
import { test } from "node:test";
import { reasonOf } from "../../src/tss/dashboard/static/js/words.js";

const error = { type: "ValueError", message: "broke", exit_code: null };

test("an ended run says how it ended", () => {
  assert.equal(reasonOf({ state: "succeeded" }), "Succeeded.");
  assert.equal(reasonOf({ state: "failed", error }), "ValueError: broke");
  assert.equal(reasonOf({ state: "failed", error: { ...error, exit_code: 3 } }), "ValueError: broke (exit code 3)");
  assert.equal(reasonOf({ state: "failed", reason: "lease lost" }), "Failed: lease lost");
  assert.equal(reasonOf({ state: "failed" }), "Failed.");
  assert.equal(reasonOf({ state: "timed_out", policy: { timeout: 90 } }), "Timed out after its limit of 1 min 30 s.");
  assert.equal(reasonOf({ state: "cancelled", reason: "cancelled by ops" }), "cancelled by ops");
  assert.equal(reasonOf({ state: "cancelled" }), "Cancelled.");
  assert.equal(reasonOf({ state: "skipped" }), "Skipped: a parent did not end as required.");
});

test("a waiting or retrying run says why", () => {
  assert.equal(reasonOf({ state: "queued", waiting_because: "no worker serves pool gpu" }),
    "Waiting: no worker serves pool gpu.");
  assert.equal(reasonOf({ state: "queued" }), "");
  assert.equal(reasonOf({ state: "retrying", error }), "Will retry after ValueError: broke");
  assert.equal(reasonOf({ state: "retrying" }), "Will retry.");
  assert.equal(reasonOf({ state: "running" }), "");
});

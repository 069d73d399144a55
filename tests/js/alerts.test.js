import "./page.js";
import assert from "node:assert/strict";
import { test } from "node:test";
import { ALERT_STATES, parseDuration } from "../../src/tss/dashboard/static/js/alerts.js";

test("the alert states are the server's, in its order", () => {
  assert.deepEqual(ALERT_STATES, ["pending", "delivered", "failed", "silenced", "held"]);
  assert.ok(Object.isFrozen(ALERT_STATES));
});

test("a silence's duration: seconds, or units as in the config files", () => {
  assert.equal(parseDuration("90"), 90);
  assert.equal(parseDuration(" 2.5 "), 2.5);
  assert.equal(parseDuration("30m"), 1800);
  assert.equal(parseDuration("1h"), 3600);
  assert.equal(parseDuration("1h30m"), 5400);
  assert.equal(parseDuration("1h 30m"), 5400);
  assert.equal(parseDuration("1d"), 86400);
  assert.equal(parseDuration("2W"), 14 * 86400);
  assert.equal(parseDuration("500ms"), 0.5);
});

test("anything else says what to type", () => {
  for (const bad of ["", "  ", "h", "1x", "1h foo", "-1h", "1h-", "soon"]) {
    assert.throws(() => parseDuration(bad), /is not a duration: type e\.g\. 30m, 1h/, bad);
  }
});

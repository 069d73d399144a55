import "./page.js";
import assert from "node:assert/strict";
import { test } from "node:test";
import { niceMax } from "../../src/tss/dashboard/static/js/charts.js";

test("niceMax rounds up to 1, 2, 2.5 or 5 times a power of ten", () => {
  assert.equal(niceMax(0), 1);
  assert.equal(niceMax(-3), 1);
  assert.equal(niceMax(1), 1);
  assert.equal(niceMax(7), 10);
  assert.equal(niceMax(13), 20);
  assert.equal(niceMax(23), 25);
  assert.equal(niceMax(420), 500);
  assert.equal(niceMax(0.3), 0.5);
});

import "./page.js";
import assert from "node:assert/strict";
import { test } from "node:test";
import {
  between, count, percent, relative, span, stamp,
} from "../../src/tss/dashboard/static/js/dom.js";

test("span: a duration in the unit that reads best", () => {
  assert.equal(span(null), "—");
  assert.equal(span(undefined), "—");
  assert.equal(span(Number.NaN), "—");
  assert.equal(span(0.85), "850 ms");
  assert.equal(span(1.25), "1.3 s");
  assert.equal(span(12.3), "12 s");
  assert.equal(span(245), "4 min 5 s");
  assert.equal(span(7800), "2 h 10 min");
  assert.equal(span(2 * 86400 + 3 * 3600), "2 d 3 h");
  assert.equal(span(119.6), "2 min 0 s");
  assert.equal(span(7199), "2 h 0 min");
  assert.equal(span(2 * 86400 - 60), "2 d 0 h");
});

test("between: seconds from one ISO time to another, never negative", () => {
  assert.equal(between(null, "2026-01-01T00:00:00Z"), null);
  assert.equal(between("2026-01-01T00:00:00Z", "2026-01-01T00:01:30Z"), 90);
  assert.equal(between("2026-01-01T00:01:00Z", "2026-01-01T00:00:00Z"), 0);
  const ago = new Date(Date.now() - 5000).toISOString();
  assert.ok(between(ago) >= 5);
});

test("relative: how far a time is from now", () => {
  assert.equal(relative(null), "");
  assert.equal(relative(new Date().toISOString()), "now");
  assert.match(relative(new Date(Date.now() - 3 * 3600 * 1000).toISOString()), /^3 h \d+ min ago$/);
  assert.match(relative(new Date(Date.now() + 300 * 1000).toISOString()), /^in [45] min \d+ s$/);
});

test("stamp: a time in a zone, without the zone's name", () => {
  assert.equal(stamp(null), "—");
  assert.equal(stamp("2026-11-23T10:00:00Z", "UTC"), "2026-11-23 10:00:00");
  assert.equal(stamp("2026-11-23T10:00:00Z", "Europe/Paris"), "2026-11-23 11:00:00");
});

test("count and percent", () => {
  assert.equal(count(1234567), "1,234,567");
  assert.equal(count(null), "—");
  assert.equal(percent(0.975), "97.5 %");
  assert.equal(percent(1), "100 %");
  assert.equal(percent(undefined), "—");
});

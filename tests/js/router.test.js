import { sample } from "./page.js";
import assert from "node:assert/strict";
import { test } from "node:test";
import { loaders, PAGES, resolve } from "../../src/tss/dashboard/static/js/router.js";

test("a path names its page, and the menu entry it belongs to", () => {
  assert.deepEqual(resolve("/dashboard"), { page: "overview", of: "overview" });
  assert.deepEqual(resolve("/dashboard/"), { page: "overview", of: "overview" });
  assert.deepEqual(resolve("/dashboard/jobs"), { page: "jobs", of: "jobs" });
  assert.deepEqual(resolve("/dashboard/dead-letters"), { page: "dead-letters", of: "dead-letters" });
  assert.deepEqual(resolve("/dashboard/alerts"), { page: "alerts", of: "alerts" });
});

test("a job or run path carries its id", () => {
  assert.deepEqual(resolve("/dashboard/jobs/nightly-report"), { page: "job", of: "jobs", id: "nightly-report" });
  assert.deepEqual(resolve("/dashboard/jobs/etl/daily%20load"), { page: "job", of: "jobs", id: "etl/daily load" });
  assert.deepEqual(resolve("/dashboard/runs/01HX"), { page: "run", of: "runs", id: "01HX" });
});

test("any other path is missing", () => {
  assert.deepEqual(resolve("/dashboard/nope"), { page: "missing", of: null });
});

test("every page of the menu has a module", () => {
  for (const page of PAGES) assert.equal(typeof loaders[page.id], "function", page.id);
  assert.deepEqual(PAGES.map((p) => p.id), JSON.parse(sample).pages, "the menu's pages are the config's");
  assert.equal(typeof loaders.job, "function");
  assert.equal(typeof loaders.run, "function");
});

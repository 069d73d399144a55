import { sample } from "./page.js";
import assert from "node:assert/strict";
import { test } from "node:test";
import {
  ENDED, FAILURES, isEnded, label, pick, readStates, STATES,
} from "../../src/tss/dashboard/static/js/states.js";

const given = JSON.parse(sample).states;

test("the states are the page config's, in its order", () => {
  assert.deepEqual([...STATES], given.all);
  assert.deepEqual([...ENDED], given.terminal);
  assert.deepEqual([...FAILURES], given.failure);
});

test("the lists cannot be changed by a page", () => {
  assert.throws(() => STATES.push("lost"), TypeError);
  assert.ok(Object.isFrozen(ENDED) && Object.isFrozen(FAILURES));
});

test("readStates takes a config object and refuses one without states", () => {
  const read = readStates({ states: { all: ["a", "b"], terminal: ["b"], failure: [] } });
  assert.deepEqual([...read.all], ["a", "b"]);
  assert.deepEqual([...read.terminal], ["b"]);
  assert.throws(() => readStates({}), /no run states/);
  assert.throws(() => readStates({ states: { all: ["a"] } }), /no run states/);
});

test("a run has ended in a terminal state only", () => {
  for (const state of ["succeeded", "failed", "timed_out", "cancelled", "skipped"]) {
    assert.equal(isEnded(state), true, state);
  }
  for (const state of ["scheduled", "waiting", "queued", "running", "retrying"]) {
    assert.equal(isEnded(state), false, state);
  }
});

test("a state in words", () => {
  assert.equal(label("timed_out"), "timed out");
  assert.equal(label("running"), "running");
});

test("pick returns run states and refuses a name that is not one", () => {
  assert.deepEqual(pick("queued", "failed"), ["queued", "failed"]);
  assert.throws(() => pick("queued", "finished"), /finished is not a run state/);
});

// The run states, as tss.core.states defines them: the server writes them into the
// tss-config element (dashboard/pages.py), so no page keeps a list of its own.

import { config } from "./config.js";

/**
 * The run states of a config object: `all` in the order the pages list them, `terminal`
 * (a run in one never changes again) and `failure` (the ends in failure), each in that order.
 */
export function readStates(settings) {
  const given = settings && settings.states;
  if (!given || !Array.isArray(given.all) || !Array.isArray(given.terminal) || !Array.isArray(given.failure)) {
    throw new Error("the page's tss-config has no run states (all, terminal, failure)");
  }
  const freeze = (list) => Object.freeze([...list]);
  return Object.freeze({ all: freeze(given.all), terminal: freeze(given.terminal), failure: freeze(given.failure) });
}

const states = readStates(config);

/** Every run state, in the order the pages list them. */
export const STATES = states.all;
/** The states a run ends in, in that order. */
export const ENDED = states.terminal;
/** The ends in failure (failed, timed out), in that order. */
export const FAILURES = states.failure;

/** Whether a run in `state` has ended (nothing changes it any more). */
export function isEnded(state) {
  return ENDED.includes(state);
}

/** A state in words: "timed out". */
export function label(state) {
  return state.replace("_", " ");
}

/** `names`, after checking each is a run state: a page's own pick fails loudly on a rename. */
export function pick(...names) {
  for (const name of names) {
    if (!STATES.includes(name)) throw new Error(`${name} is not a run state (they are ${STATES.join(", ")})`);
  }
  return names;
}

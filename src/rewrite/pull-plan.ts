// Where a pull goes, in order, for one decision: the one plan that PullImage follows and that
// `resolve` prints.
//
//   | step | source                                          | when                         |
//   |------|-------------------------------------------------|------------------------------|
//   | 1    | the winner                                      | a registry has the image     |
//   | 2    | the other registries that have it, in order     | the one before failed        |
//   | 3    | the original reference                          | `fallback: true` (default)   |
//   | 4    | registries whose probe ran out of time           | a busy registry may have it  |
//
// In strict mode (`fallback: false`) step 3 is left out, so a slow registry delays a pull
// instead of failing it. Steps after the first wait for the probes below the winner, and only
// if the winner fails.

import type { Candidate } from './candidates.js';
import { alternatives, winnerOf, type Decision } from './engine.js';

/** The original reference, unchanged, as a place to pull from. */
export const ORIGINAL = Symbol('original');
export type PullSource = Candidate | typeof ORIGINAL;

export async function* pullPlan(decision: Decision, fallback: boolean): AsyncGenerator<PullSource> {
  const winner = winnerOf(decision);
  if (winner) yield winner;
  const { found, timedOut } = await alternatives(decision);
  yield* fallback ? [...found, ORIGINAL, ...timedOut] : [...found, ...timedOut];
}

/** The whole plan as reference strings (`resolve` prints it). */
export async function pullPlanImages(decision: Decision, fallback: boolean): Promise<string[]> {
  const out: string[] = [];
  for await (const source of pullPlan(decision, fallback))
    out.push(source === ORIGINAL ? `${decision.image} (the original)` : source.image);
  return out;
}

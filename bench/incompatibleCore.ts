import { performance } from "node:perf_hooks";
import { type BucketState, createBucketState } from "../src/matching/state.ts";
import type { Step } from "../src/matching/step.ts";
import * as core from "../src/matching/transitions.ts";
import type { Clock, Profile } from "../src/matching/types.ts";
import { settings } from "./core.ts";
import { interviewerRating, joinerRating } from "./incompatible.ts";

/**
 * The pure core's cost of a join into a bucket where nobody waiting is compatible with anyone
 * else: `waiting` interviewers, and an interviewee that fits only the newest, so its
 * join looks at every one of them (bench/incompatible.ts). Set against the join that completes a
 * FIFO pair (one waiting, anyone, unrated), timed the same way in the same process, which is
 * what the pairing rule costs when the first waiting request fits.
 *
 * Each command goes through what the actor does around it (due deadlines applied first, the next
 * deadline found after), as bench/core.ts does. Only the measured join is timed: the interviewer
 * that refills the queue, and both confirms that take the pair away, run outside the clock.
 */

export type IncompatibleCoreResult = {
  waiting: number;
  /** Measured joins of each kind. */
  joins: number;
  fifoJoins: number;
  /** An interviewee's join: scans every waiting interviewer and pairs with the newest. */
  usPerIncompatibleJoin: number;
  /** Refilling the queue: an interviewer's join, compatible with nobody (timed apart, not above). */
  usPerRefillJoin: number;
  /** The join that completes a FIFO pair, one request waiting (the comparison). */
  usPerFifoJoin: number;
};

type Harness = {
  s: BucketState;
  /** Run one command as the actor would; returns its µs. */
  command: (run: (c: Clock) => { step: Step }) => number;
};

function harness(): Harness {
  const s = createBucketState({ difficulty: "medium", topic: "bench" }, settings);
  let n = 0;
  const clock = (): Clock => ({ now: Date.now(), newId: (p) => `${p}_${++n}` });
  return {
    s,
    command: (run) => {
      const t = performance.now();
      const c = clock();
      core.expireDue(s, c);
      run(c);
      core.nextDeadline(s);
      return (performance.now() - t) * 1000;
    },
  };
}

const profile = (role: Profile["role"], rating: number | null): Profile => ({
  role,
  rating,
  blocked: [],
  recent: {},
});

/** Confirm both sides of the user's match, so the bucket holds only what is waiting. */
function confirmMatchOf(h: Harness, userId: string): string[] {
  const m = h.s.matches.get(h.s.requests.get(h.s.byUser.get(userId) ?? "")?.matchId ?? "");
  if (!m) throw new Error(`incompatible core bench: ${userId} was not paired`);
  for (const u of m.users) h.command((c) => core.confirm(h.s, c, u, m.id));
  return m.users;
}

function incompatibleJoins(waiting: number, durationMs: number) {
  const h = harness();
  for (let k = 0; k < waiting; k++)
    h.command((c) => core.join(h.s, c, `r${k}`, profile("interviewer", interviewerRating(k))));
  let joins = 0;
  let joinUs = 0;
  let refillUs = 0;
  const until = performance.now() + durationMs;
  while (performance.now() < until) {
    const j = joins++;
    const joiner = `e${j}`;
    joinUs += h.command((c) => core.join(h.s, c, joiner, profile("interviewee", joinerRating(j, waiting))));
    const newest = `r${waiting - 1 + j}`;
    if (!confirmMatchOf(h, joiner).includes(newest))
      throw new Error(`incompatible core bench: joiner ${j} was not paired with ${newest}`);
    const k = waiting + j;
    refillUs += h.command((c) => core.join(h.s, c, `r${k}`, profile("interviewer", interviewerRating(k))));
    if (h.s.queue.length !== waiting)
      throw new Error(`incompatible core bench: ${h.s.queue.length} waiting, not ${waiting}`);
  }
  return { joins, joinUs, refillUs };
}

function fifoJoins(durationMs: number) {
  const h = harness();
  let joins = 0;
  let joinUs = 0;
  const until = performance.now() + durationMs;
  while (performance.now() < until) {
    const j = joins++;
    h.command((c) => core.join(h.s, c, `a${j}`));
    joinUs += h.command((c) => core.join(h.s, c, `b${j}`));
    confirmMatchOf(h, `b${j}`);
  }
  return { joins, joinUs };
}

export function incompatibleCoreBench(waiting: number, durationMs: number): IncompatibleCoreResult {
  const warm = Math.min(300, durationMs);
  incompatibleJoins(waiting, warm);
  fifoJoins(warm);
  const incompatible = incompatibleJoins(waiting, durationMs);
  const fifo = fifoJoins(durationMs);
  const us = (total: number, n: number) => (n > 0 ? Math.round((total * 100) / n) / 100 : 0);
  return {
    waiting,
    joins: incompatible.joins,
    fifoJoins: fifo.joins,
    usPerIncompatibleJoin: us(incompatible.joinUs, incompatible.joins),
    usPerRefillJoin: us(incompatible.refillUs, incompatible.joins),
    usPerFifoJoin: us(fifo.joinUs, fifo.joins),
  };
}

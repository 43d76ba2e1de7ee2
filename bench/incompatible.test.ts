import { describe, expect, it } from "vitest";
import { compatibleFrom } from "../src/matching/compatibility.ts";
import { createBucketState } from "../src/matching/state.ts";
import * as core from "../src/matching/transitions.ts";
import type { Clock, Profile } from "../src/matching/types.ts";
import { requestRow } from "../test/core/testHarness.ts";
import { settings } from "./core.ts";
import {
  type IncompatibleJoinResult,
  incompatibleFigures,
  interviewerRating,
  joinerRating,
  newestInterviewer,
} from "./incompatible.ts";
import type { Dist } from "./stats.ts";

const profile = (role: Profile["role"], rating: number): Profile => ({
  role,
  rating,
  blocked: [],
  recent: {},
});

describe("the incompatible bucket's ratings", () => {
  it("make every joiner look at the whole queue and pair with its newest, queue refilled after each", () => {
    const waiting = 1000;
    const s = createBucketState({ difficulty: "medium", topic: "bench" }, settings);
    let n = 0;
    const at = (now: number): Clock => ({ now, newId: (p) => `${p}_${++n}` });
    const t0 = 1_000_000;
    for (let k = 0; k < waiting; k++)
      core.join(s, at(t0), `r${k}`, profile("interviewer", interviewerRating(k)));
    expect(s.queue).toHaveLength(waiting);
    for (let j = 0; j < 5; j++) {
      const now = t0 + j * 1000;
      if (j > 0) {
        const k = newestInterviewer(j, waiting);
        core.join(s, at(now), `r${k}`, profile("interviewer", interviewerRating(k)));
      }
      // Nobody waiting fits anybody else: the refill paired with no one.
      expect(s.queue).toHaveLength(waiting);
      const { step } = core.join(s, at(now), `e${j}`, profile("interviewee", joinerRating(j, waiting)));
      const queued = step.effects.find((e) => e.kind === "send" && e.frame.type === "queued");
      expect(queued?.kind === "send" && queued.frame.type === "queued" && queued.frame.position).toBe(
        waiting + 1,
      );
      const match = [...s.matches.values()].find((m) => m.users.includes(`e${j}`));
      expect(match?.users).toEqual([`r${newestInterviewer(j, waiting)}`, `e${j}`]);
      for (const u of match!.users) core.confirm(s, at(now), u, match!.id);
    }
  });

  it("keep every other waiting interviewer beyond the joiner's reach for longer than any queue timeout", () => {
    const waiting = 1000;
    const longestQueueMs = 3600_000;
    const request = (userId: string, p: Profile, createdAt: number) =>
      requestRow({ ...p, userId, rank: 0, createdAt, expiresAt: createdAt + longestQueueMs });
    for (const j of [0, 1, 199]) {
      const joiner = request("e", profile("interviewee", joinerRating(j, waiting)), 0);
      const newest = newestInterviewer(j, waiting);
      for (const k of [0, waiting - 2, newest - 1, newest]) {
        const r = request(`r${k}`, profile("interviewer", interviewerRating(k)), 0);
        const from = compatibleFrom(r, joiner, 0, settings);
        if (k === newest) expect(from).toBe(0);
        else expect(from === null || from > longestQueueMs).toBe(true);
      }
    }
  });
});

const d = (p50: number, p99: number): Dist => ({ n: 50, p50, p90: p99, p99, max: p99, mean: p50 });

function phase(over: Partial<IncompatibleJoinResult> = {}): IncompatibleJoinResult {
  return {
    waiting: 1000,
    joiners: 50,
    failed: 0,
    errorKinds: {},
    joinToFound: d(9.5, 14),
    shortQueue: 0,
    openSeconds: 8,
    wallSeconds: 12,
    ...over,
  };
}

describe("the incompatible bucket's figures", () => {
  it("are the joiners' join -> match_found, set against the same run's single pair", () => {
    expect(incompatibleFigures(phase(), 8.25)).toEqual({
      incompatibleJoinWaiting: 1000,
      incompatibleJoinP50Ms: 9.5,
      incompatibleJoinP99Ms: 14,
      incompatibleJoinVsSinglePairMs: 1.25,
    });
    expect(incompatibleFigures(phase(), null).incompatibleJoinVsSinglePairMs).toBeNull();
  });

  it("are not given when a joiner was not paired with the newest or found a shorter queue", () => {
    for (const r of [phase({ failed: 1 }), phase({ shortQueue: 3 })]) {
      const figures = incompatibleFigures(r, 8);
      expect(figures.incompatibleJoinP50Ms).toBeNull();
      expect(figures.incompatibleJoinP99Ms).toBeNull();
      expect(figures.incompatibleJoinVsSinglePairMs).toBeNull();
      expect(figures.incompatibleJoinWaiting).toBe(1000);
    }
  });

  it("are null when the phase did not run (the floor, or --incompatible 0)", () => {
    expect(incompatibleFigures(null, 8)).toEqual({
      incompatibleJoinWaiting: null,
      incompatibleJoinP50Ms: null,
      incompatibleJoinP99Ms: null,
      incompatibleJoinVsSinglePairMs: null,
    });
  });
});

import { performance } from "node:perf_hooks";
import { createBucketState } from "../src/matching/state.ts";
import type { Step } from "../src/matching/step.ts";
import * as core from "../src/matching/transitions.ts";
import type { Clock, Settings } from "../src/matching/types.ts";

/**
 * The pure matching core on its own, in this process: join, join, confirm, confirm per pair, in
 * one bucket, with what the actor does around each command (apply due deadlines first, find the
 * next deadline after). The "with serialization" variant also JSON-encodes every frame and every
 * written row, as the actor does before SQLite and the socket. No I/O, so this is the ceiling the
 * actor's logic puts on a bucket; everything the server does beyond it is runtime and storage.
 */

/** The service's defaults (src/config.ts), so the core pays what a deployed bucket pays. */
export const settings: Settings = {
  queueTimeoutMs: 60_000,
  confirmTimeoutMs: 20_000,
  reconnectGraceMs: 10_000,
  orchestrate: false,
  rematchCooldownMs: 600_000,
  ratingWindow: 100,
  ratingWidenStep: 25,
  ratingWidenMs: 10_000,
  widenAfterMs: 20_000,
};

export type CoreResult = {
  variant: string;
  pairs: number;
  seconds: number;
  pairsPerSec: number;
  /** Each pair is two joins: the join rate the core alone could serve. */
  joinsPerSec: number;
  usPerPair: number;
};

function runVariant(variant: string, durationMs: number, serialize: boolean, uuidIds: boolean): CoreResult {
  const s = createBucketState({ difficulty: "medium", topic: "bench" }, settings);
  let n = 0;
  const clock = (): Clock => ({
    now: Date.now(),
    newId: uuidIds ? (p) => `${p}_${crypto.randomUUID()}` : (p) => `${p}_${++n}`,
  });
  let sink = 0;
  const apply = (step: Step) => {
    if (!serialize) return;
    for (const r of step.requests.values()) sink += JSON.stringify(r).length;
    for (const m of step.matches.values()) sink += JSON.stringify(m).length;
    for (const e of step.effects) if (e.kind === "send") sink += JSON.stringify(e.frame).length;
  };
  const command = (run: (c: Clock) => { step: Step }) => {
    const c = clock();
    apply(core.expireDue(s, c).step);
    apply(run(c).step);
    core.nextDeadline(s);
  };
  let pairs = 0;
  let user = 0;
  const started = performance.now();
  const until = started + durationMs;
  while (performance.now() < until) {
    for (let i = 0; i < 200; i++) {
      const a = `u${++user}`;
      const b = `u${++user}`;
      command((c) => core.join(s, c, a));
      let matchId = "";
      command((c) => {
        const out = core.join(s, c, b);
        matchId = s.requests.get(s.byUser.get(b)!)!.matchId ?? "";
        return out;
      });
      command((c) => core.confirm(s, c, a, matchId));
      let state = "";
      command((c) => {
        const out = core.confirm(s, c, b, matchId);
        state = out.result.ok ? out.result.state : out.result.code;
        return out;
      });
      if (state !== "ready") throw new Error(`core bench: pair ended in ${state}`);
      pairs++;
    }
  }
  const seconds = (performance.now() - started) / 1000;
  if (sink < 0) console.error(sink);
  return {
    variant,
    pairs,
    seconds: Math.round(seconds * 100) / 100,
    pairsPerSec: Math.round(pairs / seconds),
    joinsPerSec: Math.round((2 * pairs) / seconds),
    usPerPair: Math.round((seconds * 1e6 * 100) / pairs) / 100,
  };
}

export function coreBench(durationMs: number): CoreResult[] {
  runVariant("warm-up", Math.min(300, durationMs), true, true);
  return [
    runVariant("core only (counter ids)", durationMs, false, false),
    runVariant(
      "core + JSON of rows and frames, UUID ids (what the actor adds in JS)",
      durationMs,
      true,
      true,
    ),
  ];
}

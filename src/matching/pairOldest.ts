import { matchFoundFrame } from "./describe.ts";
import { type BucketState, dequeue } from "./state.ts";
import type { Step } from "./step.ts";
import type { Clock, Match } from "./types.ts";

/**
 * The pairing rule, in one place: while two requests wait, the two oldest (lowest rank) are
 * matched. Called the moment a request arrives or is put back, so at rest at most one request
 * waits and a new arrival is paired with the oldest waiting one, with no polling. A user never
 * has two live requests in one bucket, so the two are always different users; the check below
 * keeps that true even if a caller ever breaks the rule.
 */
export function pairOldest(s: BucketState, clock: Clock, step: Step): void {
  while (s.queue.length >= 2) {
    const a = s.requests.get(s.queue[0]!)!;
    const b = s.requests.get(s.queue[1]!)!;
    if (a.userId === b.userId) return;
    const m: Match = {
      id: clock.newId("mat"),
      users: [a.userId, b.userId],
      requests: [a.id, b.id],
      createdAt: clock.now,
      confirmBy: clock.now + s.settings.confirmTimeoutMs,
      confirmed: [],
      settingUp: false,
      status: "proposed",
      reason: null,
      endedAt: null,
      questionId: null,
      collaborationSessionId: null,
    };
    s.matches.set(m.id, m);
    s.deadlines.push({ at: m.confirmBy, kind: "confirm", id: m.id });
    step.wroteMatch(m);
    for (const r of [a, b]) {
      dequeue(s, r.id);
      r.status = "MATCHED";
      r.matchId = m.id;
      r.pausedRemainingMs = Math.max(0, r.expiresAt - clock.now);
      step.wroteRequest(r);
      s.stats.recordMatch(clock.now - r.createdAt, clock.now);
      step.send(r.userId, matchFoundFrame(s, m, r.userId));
    }
  }
}

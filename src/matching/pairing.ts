import { roomName } from "../protocol/values.ts";
import { assignParts, compatibleFrom } from "./compatibility.ts";
import { matchFoundFrame } from "./describe.ts";
import { reportChange, tell } from "./guestDelivery.ts";
import { type BucketState, dequeue, pairOrder } from "./state.ts";
import type { Step } from "./step.ts";
import type { Clock, Match, MatchRequest } from "./types.ts";

/**
 * The pairing rule, in one place: the oldest waiting request is paired with its oldest
 * compatible partner (`compatibility.ts`), again and again, until no two waiting requests are
 * compatible. Called the moment something changes, with nothing polling.
 *
 * `fresh` are the requests that may have become compatible with someone since the bucket was
 * last at rest: a new or requeued request, one whose user came back or changed their blocks, one
 * whose recheck is due. At rest no two waiting requests are compatible, so only pairs with a
 * fresh request need looking at: one pass over the queue per fresh request, O(waiting) for a join.
 *
 * The same pass notes, for each fresh request left waiting, the earliest moment time alone makes
 * it compatible with someone (a rating window widens, a cooldown ends). That becomes its
 * `recheckAt` deadline, so every pair that will become compatible has an alarm on one of its two
 * requests, and the bucket pairs them at that moment.
 */
export function pairOldestCompatible(s: BucketState, clock: Clock, step: Step, fresh: MatchRequest[]): void {
  const dirty = new Set<string>();
  for (const r of fresh) if (r.status === "PENDING") dirty.add(r.id);
  while (dirty.size > 0) {
    const soonest = new Map<string, number>();
    const pair = findPair(s, clock.now, dirty, soonest);
    if (pair) {
      pairUp(s, clock, step, pair[0], pair[1]);
      dirty.delete(pair[0].id);
      dirty.delete(pair[1].id);
      continue;
    }
    for (const id of dirty) {
      const r = s.requests.get(id)!;
      const at = soonest.get(id) ?? null;
      if (r.recheckAt === at) continue;
      r.recheckAt = at;
      if (at !== null) s.deadlines.push({ at, kind: "recheck", id });
      step.wroteRequest(r);
    }
    return;
  }
}

/**
 * The first request in queue order that has a compatible partner, with its oldest one. A fresh
 * request looks at everyone after it; anyone else only at the fresh requests after it (a pair is
 * looked at once, from its older side). Both requests of every pair looked at that becomes
 * compatible later note the time on the fresh side in `soonest`.
 */
function findPair(
  s: BucketState,
  now: number,
  dirty: Set<string>,
  soonest: Map<string, number>,
): [MatchRequest, MatchRequest] | null {
  const queue = s.queue;
  const freshAfter: MatchRequest[] = [];
  for (const id of queue) if (dirty.has(id)) freshAfter.push(s.requests.get(id)!);
  let nextFresh = 0;
  for (let i = 0; i < queue.length && nextFresh < freshAfter.length; i++) {
    const q = s.requests.get(queue[i]!)!;
    if (dirty.has(q.id)) {
      nextFresh++;
      for (let j = i + 1; j < queue.length; j++) {
        const w = s.requests.get(queue[j]!)!;
        const at = compatibleFrom(q, w, now, s.settings);
        if (at === now) return [q, w];
        if (at !== null) note(soonest, q.id, at);
      }
    } else {
      for (let k = nextFresh; k < freshAfter.length; k++) {
        const d = freshAfter[k]!;
        const at = compatibleFrom(q, d, now, s.settings);
        if (at === now) return [q, d];
        if (at !== null) note(soonest, d.id, at);
      }
    }
  }
  return null;
}

function note(soonest: Map<string, number>, id: string, at: number): void {
  const known = soonest.get(id);
  if (known === undefined || at < known) soonest.set(id, at);
}

/**
 * Pair two compatible requests. Requests this bucket owns are its to take. A guest entry is its
 * home's, which must hand it over first (`handover.ts`): the pair is held and its two requests
 * are taken one after the other in `pairOrder`, each guest by asking its home, and proposed
 * (the pair's id becoming the match's) once both are. A request this bucket owns is taken
 * (held, so no other bucket can have it) only when its turn comes; before that it waits on in
 * the queue, and whoever takes it first wins.
 */
function pairUp(s: BucketState, clock: Clock, step: Step, a: MatchRequest, b: MatchRequest): void {
  const id = clock.newId("mat");
  if (a.home === null && b.home === null) {
    propose(s, clock, step, a, b, id);
    return;
  }
  const [first, second] = pairOrder(a, b);
  s.held.set(id, [first.id, second.id]);
  hold(step, s, first, id, second.id);
  // A guest's turn comes later but it waits for its pair: it is not paired twice here.
  if (second.home !== null) hold(step, s, second, id, first.id);
  const asked = first.home !== null ? first : second;
  step.effects.push({ kind: "ask", home: asked.home!, requestId: asked.id, pairId: id });
}

function hold(step: Step, s: BucketState, r: MatchRequest, pairId: string, heldWith: string): void {
  dequeue(s, r.id);
  r.holdFor = pairId;
  r.heldWith = heldWith;
  r.recheckAt = null;
  step.wroteRequest(r);
}

export function propose(
  s: BucketState,
  clock: Clock,
  step: Step,
  a: MatchRequest,
  b: MatchRequest,
  id: string,
): void {
  const m: Match = {
    id,
    users: [a.userId, b.userId],
    requests: [a.id, b.id],
    parts: assignParts(a.role, b.role, id),
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
  step.tallies.push({ kind: "proposed", waitsMs: [clock.now - a.createdAt, clock.now - b.createdAt] });
  for (const r of [a, b]) {
    dequeue(s, r.id);
    r.status = "MATCHED";
    r.matchId = m.id;
    r.holdFor = null;
    r.heldWith = null;
    r.room = roomName(s.bucket);
    r.recheckAt = null;
    r.pausedRemainingMs = Math.max(0, r.expiresAt - clock.now);
    step.wroteRequest(r);
    s.stats.recordMatch(clock.now - r.createdAt, clock.now);
    tell(step, r, matchFoundFrame(s, m, r.userId));
    reportChange(step, r, { kind: "matched" });
  }
}

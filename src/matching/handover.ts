import { queuedFrame } from "./describe.ts";
import { available, entryOf, placed, tell } from "./guestDelivery.ts";
import { pairOldestCompatible, propose } from "./pairing.ts";
import type { GuestEntry, HandOverAnswer, PeerMessage } from "./peerMessages.ts";
import { type BucketState, dequeue, enqueue, inItsOwnBucket } from "./state.ts";
import { Step } from "./step.ts";
import * as bucket from "./transitions.ts";
import type { Clock, MatchRequest } from "./types.ts";

/**
 * Requests that wait in several buckets at once (docs/protocol.md, "waiting in several buckets"), paired exactly
 * once. The protocol between buckets, as pure transitions:
 *
 * - The request's home bucket (where it was made, holding its one registry claim) **owns** it.
 *   Every other bucket it waits in holds a **guest entry**: a copy with the request's creation
 *   time, so it queues there by age like anyone else.
 * - The home alone decides whether the request may be paired. It pairs it itself at once, like
 *   any request it owns. A guest bucket that picks a pair with a guest entry **holds** the pair
 *   (both out of its queue) and **asks** the entry's home to hand it over. The home grants only a
 *   request that is waiting, present and not held or lent, and lends it to that one bucket;
 *   every later ask is refused, so two buckets can never both pair it.
 * - With every hand-over granted, the guest bucket proposes the match; otherwise it gives back
 *   what it was granted, drops entries whose refusal shows they are stale, and pairs its other
 *   side again at once.
 * - Whenever the request stops being available (paired, held, lent, absent, ended) the home
 *   withdraws it from the guests; when it is available again, it places it in all of them
 *   again. Its **epoch** counts these turns (odd: placed), and each entry carries the epoch it
 *   was placed at. Placements and withdrawals to one bucket arrive in order; a refusal can
 *   overtake the withdrawal sent before it, so both simply drop the entry (a held one when its
 *   pair is decided), and only a later placement brings it back.
 * - While lent, the borrowing bucket owns the match: the home relays the user's commands to it,
 *   and it reports back (frames for the home socket, and matched / ended / returned). A survivor
 *   of a match that fell through is returned home, which places it in every bucket again.
 *
 * Messages between two buckets arrive in the order they were sent (the actor keeps an ordered,
 * persisted queue per destination); asks and their answers travel outside that order.
 */

/** After every step: guests follow each owned request's availability (place or withdraw). */
export function syncGuests(s: BucketState, step: Step): void {
  const home = bucket.homeOf(s);
  for (const row of [...step.requests.values()]) {
    if (row.home !== null || row.also.length === 0) continue;
    const live = s.requests.get(row.id);
    const r = live ?? row;
    const want = live !== undefined && available(r);
    if (want === placed(r)) continue;
    r.epoch++;
    if (live) step.wroteRequest(r);
    for (const room of r.also) {
      if (want) step.peer(room, { kind: "place", entry: entryOf(r, home) });
      // The bucket it is lent to holds the match now; its entry there is that bucket's to end.
      else if (room !== r.away?.room) step.peer(room, { kind: "withdraw", requestId: r.id, epoch: r.epoch });
    }
  }
}

/** At the home: a guest bucket asks to pair request `requestId` as part of pair `pairId`. */
export function handOver(
  s: BucketState,
  clock: Clock,
  from: string,
  requestId: string,
  pairId: string,
): { step: Step; result: HandOverAnswer } {
  const step = new Step();
  const r = s.requests.get(requestId);
  if (!r || r.home !== null) {
    step.tallies.push({ kind: "handover", granted: false });
    return { step, result: { granted: false, epoch: null } };
  }
  // The same ask again (the asker restarted before the answer reached it).
  if (r.away?.room === from && r.away.pairId === pairId) return { step, result: { granted: true } };
  if (!r.also.includes(from) || !available(r)) {
    step.tallies.push({ kind: "handover", granted: false });
    return { step, result: { granted: false, epoch: r.also.includes(from) ? r.epoch : null } };
  }
  step.tallies.push({ kind: "handover", granted: true });
  dequeue(s, r.id);
  r.status = "MATCHED";
  r.away = { room: from, pairId };
  r.recheckAt = null;
  r.pausedRemainingMs = Math.max(0, r.expiresAt - clock.now);
  step.wroteRequest(r);
  syncGuests(s, step);
  return { step, result: { granted: true } };
}

export type AskAnswer = { home: string; requestId: string; answer: HandOverAnswer };

/**
 * At the guest bucket: the home asked for one request of pair `pairId` answered. The pair's
 * requests are taken in `pairOrder`: granted, the next one is taken (asked for, or taken from this
 * bucket's own queue), and with both the match is proposed. Refused (the request went to another
 * pair), the pair falls apart: what it was granted goes back, its stale entry is dropped, and
 * the rest waits and is paired again at once. Because every bucket takes requests in the same
 * order, the pair holding the first of two contested requests always gets on.
 */
export function handOverAnswered(s: BucketState, clock: Clock, pairId: string, answers: AskAnswer[]): Step {
  const step = new Step();
  decidePair(s, clock, step, pairId, answers);
  return step;
}

function decidePair(s: BucketState, clock: Clock, step: Step, pairId: string, answers: AskAnswer[]): void {
  const pair = s.held.get(pairId);
  const held = (id: string | undefined) => {
    const r = id === undefined ? undefined : s.requests.get(id);
    return r && r.status === "PENDING" && r.holdFor === pairId ? r : undefined;
  };
  const granted: AskAnswer[] = [];
  /** Refused, but placed again since: not stale, it waits on here. */
  const placedSince = new Set<string>();
  let refused = pair === undefined;
  for (const a of answers) {
    if (a.answer.granted) {
      granted.push(a);
      continue;
    }
    refused = true;
    const r = held(a.requestId);
    if (!r) continue;
    if (a.answer.epoch !== null && r.epoch > a.answer.epoch && placed(r)) placedSince.add(r.id);
    // Stale: the withdrawal this refusal overtook will find nothing.
    else drop(s, clock, step, r);
  }
  if (!refused && pair) {
    const [firstId, secondId] = pair;
    const first = held(firstId);
    // The second request is held only if it is a guest; one of this bucket's own waits in the queue.
    const second = held(secondId) ?? waitingHere(s, secondId);
    const askedSecond = answers.some((a) => a.requestId === secondId);
    if (first && second && (askedSecond || second.home === null)) {
      if (second.holdFor !== pairId) dequeue(s, second.id);
      s.held.delete(pairId);
      propose(s, clock, step, first, second, pairId);
      syncGuests(s, step);
      return;
    }
    if (first && second?.home) {
      step.effects.push({ kind: "ask", home: second.home, requestId: second.id, pairId });
      return;
    }
  }
  // The pair falls apart: give back what it was granted; its entries come back with their
  // homes' next placements, like in every other guest bucket.
  s.held.delete(pairId);
  const givenBack = new Set<string>();
  for (const { home, requestId } of granted) {
    step.peer(home, { kind: "giveBack", requestId, pairId });
    givenBack.add(requestId);
    const r = held(requestId);
    if (r) drop(s, clock, step, r);
  }
  const back: MatchRequest[] = [];
  for (const [i, id] of (pair ?? []).entries()) {
    const r = held(id);
    if (!r) continue;
    if (r.home !== null && i === 0 && !placedSince.has(r.id)) {
      // A first guest still held was granted earlier (the second is asked only after it).
      if (!givenBack.has(r.id)) step.peer(r.home, { kind: "giveBack", requestId: r.id, pairId });
      drop(s, clock, step, r);
      continue;
    }
    // Withdrawn while held, and not placed again since: stale (its ask, if any, was refused).
    if (r.home !== null && !placed(r)) {
      drop(s, clock, step, r);
      continue;
    }
    // This bucket's own first request, a second guest not asked for yet, or a guest placed
    // again since its refusal: waiting again.
    r.holdFor = null;
    r.heldWith = null;
    enqueue(s, r);
    s.deadlines.push({ at: r.expiresAt, kind: "queue", id: r.id });
    step.wroteRequest(r);
    back.push(r);
  }
  pairOldestCompatible(s, clock, step, back);
  syncGuests(s, step);
}

/** One of this bucket's own requests, waiting in its queue (not held, present). */
function waitingHere(s: BucketState, id: string): MatchRequest | undefined {
  const r = s.requests.get(id);
  return r && r.home === null && r.status === "PENDING" && r.holdFor === null && r.graceUntil === null
    ? r
    : undefined;
}

/**
 * Asks a restarted bucket must make again, since answers die with the instance that waited: the
 * first guest of every pair it still holds (asked again, a home answers a grant the same way).
 * A pair none of whose guests is left here is `releaseUnaskedPairs`'s.
 */
export function pendingAsks(s: BucketState): { home: string; requestId: string; pairId: string }[] {
  const asks: { home: string; requestId: string; pairId: string }[] = [];
  for (const [pairId, ids] of s.held) {
    for (const id of ids) {
      const r = s.requests.get(id);
      if (!r?.home || r.holdFor !== pairId || r.status !== "PENDING") continue;
      asks.push({ home: r.home, requestId: id, pairId });
      break;
    }
  }
  return asks;
}

/**
 * After a restart, the held pairs for which `pendingAsks` has nothing to ask fall apart now: the
 * guest they waited on is gone from here (its user left while it was lent here, or a newer
 * request of theirs replaced it, whose home refuses it), so no answer will ever decide them, and
 * the one that would have (a grant, given back, or a refusal) died with the last instance.
 */
export function releaseUnaskedPairs(s: BucketState, clock: Clock): Step {
  const step = new Step();
  // The usual start: nothing held, nothing to look at.
  if (s.held.size === 0) return step;
  const asked = new Set(pendingAsks(s).map((a) => a.pairId));
  for (const pairId of [...s.held.keys()]) {
    if (!asked.has(pairId)) decidePair(s, clock, step, pairId, []);
  }
  return step;
}

/** A message from another bucket of the tenant. */
export function receive(s: BucketState, clock: Clock, from: string, message: PeerMessage): Step {
  let step = new Step();
  switch (message.kind) {
    case "place":
      place(s, clock, step, message.entry);
      break;
    case "withdraw": {
      const r = s.requests.get(message.requestId);
      if (!r || r.home === null || r.status !== "PENDING") break;
      if (r.holdFor === null) {
        drop(s, clock, step, r);
        break;
      }
      // A held entry stays until its pair is decided: its row is what makes a restarted bucket
      // ask for it again (`pendingAsks`), and a grant to this pair may still be on its way (the
      // home placed it again before the ask came), which must be used or given back. The even
      // epoch marks it withdrawn, so the pair, should it fall apart, drops it (a refusal can
      // also overtake this); a later placement makes it odd again.
      r.epoch = Math.max(r.epoch, message.epoch);
      step.wroteRequest(r);
      break;
    }
    case "giveBack": {
      const r = s.requests.get(message.requestId);
      if (r && r.home === null && r.away?.pairId === message.pairId && r.matchId === null) {
        returnHome(s, clock, step, r);
      }
      break;
    }
    case "report":
      fromGuest(s, clock, step, from, message);
      break;
    case "command":
      step = command(s, clock, message);
      break;
  }
  syncGuests(s, step);
  return step;
}

/** At a guest bucket: the request waits here too, or its data changed. */
function place(s: BucketState, clock: Clock, step: Step, entry: GuestEntry): void {
  const known = s.requests.get(entry.id);
  if (known) {
    // Matched here: the entry is this bucket's until it returns home.
    if (known.home === null || known.status !== "PENDING") return;
    const expiresMoved = known.expiresAt !== entry.expiresAt;
    Object.assign(known, {
      role: entry.role,
      rating: entry.rating,
      blocked: [...entry.blocked],
      recent: { ...entry.recent },
      expiresAt: entry.expiresAt,
      epoch: entry.epoch,
    });
    if (expiresMoved) s.deadlines.push({ at: known.expiresAt, kind: "queue", id: known.id });
    step.wroteRequest(known);
    if (known.holdFor === null) pairOldestCompatible(s, clock, step, [known]);
    return;
  }
  const other = bucket.liveRequestOf(s, entry.userId);
  if (other) {
    // A user has one live request, so of two the older has ended and its entry's withdrawal is
    // on its way: it gives way to the newer now, as that withdrawal would make it. A held one
    // too: its home refuses the ask (or did), which a dropped entry's pair takes as for any
    // withdrawal. A matched one cannot be older (its request is lent, so it still lives).
    if (other.createdAt >= entry.createdAt || other.home === null) return;
    if (other.status !== "PENDING") return;
    drop(s, clock, step, other);
  }
  const r: MatchRequest = {
    ...inItsOwnBucket(),
    ...entry,
    blocked: [...entry.blocked],
    recent: { ...entry.recent },
    recheckAt: null,
    rank: s.nextRank++,
    status: "PENDING",
    pausedRemainingMs: null,
    matchId: null,
    graceUntil: null,
    endedAt: null,
    outcome: null,
  };
  s.requests.set(r.id, r);
  s.byUser.set(r.userId, r.id);
  enqueue(s, r);
  s.deadlines.push({ at: r.expiresAt, kind: "queue", id: r.id });
  step.wroteRequest(r);
  pairOldestCompatible(s, clock, step, [r]);
}

/** A guest entry leaves this bucket; the request itself goes on at its home. */
function drop(s: BucketState, clock: Clock, step: Step, r: MatchRequest): void {
  bucket.endRequest(s, clock, step, r, "CANCELLED", "withdrawn");
}

/** At the home: a lent request is back (given back, or its match elsewhere fell through). */
function returnHome(s: BucketState, clock: Clock, step: Step, r: MatchRequest): void {
  if (r.leaving) {
    // Its user left while it was away, and the leave crossed its return: it ends here.
    const outcome = r.leaving;
    Object.assign(r, { away: null, matchId: null, room: null, leaving: null });
    bucket.endLeft(s, clock, step, r, outcome);
    return;
  }
  r.status = "PENDING";
  r.away = null;
  r.matchId = null;
  r.room = null;
  r.expiresAt = clock.now + (r.pausedRemainingMs ?? s.settings.queueTimeoutMs);
  r.pausedRemainingMs = null;
  enqueue(s, r);
  s.deadlines.push({ at: r.expiresAt, kind: "queue", id: r.id });
  step.wroteRequest(r);
  tell(step, r, queuedFrame(s, r));
  pairOldestCompatible(s, clock, step, [r]);
}

/** At the home: what happened to its request in the bucket it is lent to. */
function fromGuest(
  s: BucketState,
  clock: Clock,
  step: Step,
  from: string,
  report: Extract<PeerMessage, { kind: "report" }>,
): void {
  const r = s.requests.get(report.requestId);
  if (!r || r.home !== null || r.away?.room !== from || r.away.pairId !== report.pairId) return;
  const change = report.change;
  if (change?.kind === "matched") {
    // Delivered twice after a restart: the user hears of the match once.
    if (r.matchId !== null) return;
    r.matchId = report.pairId;
    r.room = from;
    step.wroteRequest(r);
  }
  for (const frame of report.frames) step.send(r.userId, frame);
  if (change?.kind === "ended") {
    r.recent = { ...report.recent };
    bucket.endRequest(s, clock, step, r, change.status, change.outcome);
  } else if (change?.kind === "returned") {
    r.recent = { ...report.recent };
    returnHome(s, clock, step, r);
  }
  if (report.close) step.close(r.userId, report.close.code, report.close.reason);
}

/** At the bucket holding a guest entry: its user acted on their home socket. */
function command(s: BucketState, clock: Clock, message: Extract<PeerMessage, { kind: "command" }>): Step {
  const r = s.requests.get(message.requestId);
  if (!r || r.home === null || r.userId !== message.userId) return new Step();
  const c = message.command;
  const outcome =
    c.type === "confirm"
      ? bucket.confirm(s, clock, r.userId, c.matchId)
      : c.type === "decline"
        ? bucket.decline(s, clock, r.userId, c.matchId)
        : c.type === "leave"
          ? bucket.leave(s, clock, r.userId, c.disconnected ? "disconnected" : "left")
          : bucket.status(s, r.userId);
  const live = s.requests.get(r.id);
  if (!outcome.result.ok && live) {
    tell(outcome.step, live, { type: "error", code: outcome.result.code, message: outcome.result.message });
  }
  return outcome.step;
}

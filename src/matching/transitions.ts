import { CloseCode, type MatchCancelReason } from "../protocol/frames.ts";
import { roomName } from "../protocol/values.ts";
import { notePartner } from "./compatibility.ts";
import type { DeadlineKind } from "./deadlines.ts";
import { bucketsOf, matchFoundFrame, matchReadyFrame, partnerOf, queuedFrame } from "./describe.ts";
import { closeFor, entryOf, placed, reportChange, tell } from "./guestDelivery.ts";
import { pairOldestCompatible } from "./pairing.ts";
import type { ClientCommand } from "./peerMessages.ts";
import { type BucketState, dequeue, enqueue, inItsOwnBucket } from "./state.ts";
import { Step } from "./step.ts";
import type { Clock, Match, MatchRequest, Profile, RequestOutcome, RequestStatus } from "./types.ts";

/**
 * The request/match state machine of one bucket. Each transition is deterministic and does no
 * I/O: it updates the live state it is given and returns a Step (rows written, frames, closes,
 * calls) plus a result the adapter maps to a WebSocket frame or an HTTP status.
 *
 *   PENDING --pair--> MATCHED --both confirm--> CONFIRMED
 *      |                 |--decline/leave/timeout--> ended, partner back to PENDING at its rank
 *      +--leave/timeout/grace--> CANCELLED | TIMED_OUT
 */

export type RefusalCode = "no_live_request" | "unknown_match" | "not_in_match";
export type Refusal = { ok: false; code: RefusalCode; message: string };

const refuse = (code: RefusalCode, message: string): Refusal => ({ ok: false, code, message });

export type Outcome<T> = { step: Step; result: T };

/** Anyone, unrated, blocking no one, with no recent partners. */
export const ANYONE: Profile = { role: "either", rating: null, blocked: [], recent: {} };

/**
 * Create the user's request in this bucket, or resume their live one (a reload, a new tab). A
 * resumed request keeps the profile it was made with.
 */
export function join(
  s: BucketState,
  clock: Clock,
  userId: string,
  profile: Profile = ANYONE,
): Outcome<{ ok: true; request: MatchRequest; resumed: boolean }> {
  const step = new Step();
  let existing = liveRequestOf(s, userId);
  if (existing?.home != null && existing.status === "PENDING") {
    // The entry of an older request whose withdrawal has not arrived: the registry granted this
    // join, so that request has ended.
    endRequest(s, clock, step, existing, "CANCELLED", "withdrawn");
    existing = undefined;
  }
  if (existing) {
    // Held elsewhere: that bucket describes it (its frames come back through `report`).
    if (existing.away) {
      if (existing.graceUntil !== null) {
        existing.graceUntil = null;
        step.wroteRequest(existing);
      }
      forward(step, existing, { type: "status" });
      return { step, result: { ok: true, request: existing, resumed: true } };
    }
    const back = existing.graceUntil !== null;
    if (back) {
      existing.graceUntil = null;
      step.wroteRequest(existing);
    }
    describeTo(s, step, existing);
    // Back from its grace, it is present again and may be paired now.
    if (back) pairOldestCompatible(s, clock, step, [existing]);
    return { step, result: { ok: true, request: existing, resumed: true } };
  }
  const r: MatchRequest = {
    id: clock.newId("req"),
    userId,
    role: profile.role,
    rating: profile.rating,
    blocked: [...profile.blocked],
    recent: { ...profile.recent },
    recheckAt: null,
    rank: s.nextRank++,
    status: "PENDING",
    createdAt: clock.now,
    expiresAt: clock.now + s.settings.queueTimeoutMs,
    pausedRemainingMs: null,
    matchId: null,
    graceUntil: null,
    endedAt: null,
    outcome: null,
    ...inItsOwnBucket(),
    also: [...(profile.also ?? [])],
    widenAt: profile.widen ? clock.now + s.settings.widenAfterMs : null,
  };
  s.requests.set(r.id, r);
  if (r.widenAt !== null) s.deadlines.push({ at: r.widenAt, kind: "widen", id: r.id });
  s.byUser.set(userId, r.id);
  enqueue(s, r);
  s.deadlines.push({ at: r.expiresAt, kind: "queue", id: r.id });
  step.wroteRequest(r);
  step.tallies.push({ kind: "joined" });
  step.send(userId, queuedFrame(s, r));
  pairOldestCompatible(s, clock, step, [r]);
  return { step, result: { ok: true, request: r, resumed: false } };
}

/**
 * The user's block list changed: their live request here follows it at once. An unblock may
 * make a pair possible now; a block never breaks a match already proposed (declining does).
 */
export function setBlocked(
  s: BucketState,
  clock: Clock,
  userId: string,
  blocked: string[],
): Outcome<{ ok: boolean }> {
  const step = new Step();
  const r = liveRequestOf(s, userId);
  if (!r) return { step, result: { ok: false } };
  r.blocked = [...blocked];
  step.wroteRequest(r);
  if (placed(r)) for (const room of r.also) step.peer(room, { kind: "place", entry: entryOf(r, homeOf(s)) });
  pairOldestCompatible(s, clock, step, [r]);
  return { step, result: { ok: true } };
}

/**
 * Look at every waiting pair again: the bucket was restored under pairing settings other than
 * the ones its waiting requests were paired (and their rechecks timed) under. O(waiting²), once.
 */
export function resettle(s: BucketState, clock: Clock): Outcome<{ ok: true }> {
  const step = new Step();
  const waiting = s.queue.map((id) => s.requests.get(id)!);
  for (const r of waiting) r.recheckAt = null;
  pairOldestCompatible(s, clock, step, waiting);
  for (const r of waiting) if (r.status === "PENDING" && r.recheckAt === null) step.wroteRequest(r);
  return { step, result: { ok: true } };
}

/** Answer `status`: the frame that describes where the user's request stands now. */
export function status(s: BucketState, userId: string): Outcome<{ ok: true } | Refusal> {
  const step = new Step();
  const r = liveRequestOf(s, userId);
  if (!r) return { step, result: refuse("no_live_request", "You have no live request in this bucket.") };
  if (r.away) forward(step, r, { type: "status" });
  else describeTo(s, step, r);
  return { step, result: { ok: true } };
}

/** The user withdraws: a waiting request is cancelled; during confirmation the partner is requeued. */
export function leave(
  s: BucketState,
  clock: Clock,
  userId: string,
  outcome: "left" | "disconnected" = "left",
): Outcome<{ ok: true } | Refusal> {
  const step = new Step();
  const r = liveRequestOf(s, userId);
  if (!r) return { step, result: refuse("no_live_request", "You have no live request in this bucket.") };
  if (r.away) {
    r.leaving = outcome;
    step.wroteRequest(r);
    forward(step, r, { type: "leave", disconnected: outcome === "disconnected" });
    return { step, result: { ok: true } };
  }
  const match = r.matchId ? s.matches.get(r.matchId) : undefined;
  const survivors = match ? breakMatch(s, clock, step, match, [userId], "partner_left") : [];
  endLeft(s, clock, step, r, outcome);
  pairOldestCompatible(s, clock, step, survivors);
  return { step, result: { ok: true } };
}

/** A request its user left (or lost by disconnection) ends: `cancelled` and a close if they left. */
export function endLeft(
  s: BucketState,
  clock: Clock,
  step: Step,
  r: MatchRequest,
  outcome: "left" | "disconnected",
): void {
  endRequest(s, clock, step, r, "CANCELLED", outcome);
  reportChange(step, r, { kind: "ended", status: "CANCELLED", outcome });
  if (outcome === "left") {
    tell(step, r, { type: "cancelled", requestId: r.id });
    closeFor(step, r, CloseCode.normal, "left");
  }
}

export type ConfirmState = "waiting_for_partner" | "setting_up" | "ready";

/**
 * A confirm or decline for a request held by another bucket goes there (`forwarded`); its
 * frames come back through the home.
 */
export function confirm(
  s: BucketState,
  clock: Clock,
  userId: string,
  matchId: string,
): Outcome<{ ok: true; state: ConfirmState; match: Match } | { ok: true; state: "forwarded" } | Refusal> {
  const step = new Step();
  const found = matchOf(s, step, userId, matchId, { type: "confirm", matchId });
  if (!found.ok) return { step, result: found };
  if (found.forwarded) return { step, result: { ok: true, state: "forwarded" } };
  const m = found.match;
  if (m.settingUp) return { step, result: { ok: true, state: "setting_up", match: m } };
  if (!m.confirmed.includes(userId)) {
    m.confirmed.push(userId);
    step.wroteMatch(m);
    if (m.confirmed.length === 1)
      tell(step, requestOf(s, partnerOf(m, userId)), { type: "partner_confirmed", matchId: m.id });
  }
  if (m.confirmed.length < 2) return { step, result: { ok: true, state: "waiting_for_partner", match: m } };
  if (s.settings.orchestrate) {
    m.settingUp = true;
    step.wroteMatch(m);
    step.effects.push({ kind: "setup", match: { ...m } });
    return { step, result: { ok: true, state: "setting_up", match: m } };
  }
  finishMatch(s, clock, step, m, null, null);
  return { step, result: { ok: true, state: "ready", match: m } };
}

export function decline(
  s: BucketState,
  clock: Clock,
  userId: string,
  matchId: string,
): Outcome<{ ok: true } | Refusal> {
  const step = new Step();
  const found = matchOf(s, step, userId, matchId, { type: "decline", matchId });
  if (!found.ok) return { step, result: found };
  if (found.forwarded) return { step, result: { ok: true } };
  const m = found.match;
  // Declined: the two are not paired again within the cooldown, wherever either goes next.
  notePartners(s, clock, m);
  const survivors = breakMatch(s, clock, step, m, [userId], "partner_declined");
  const r = requestOf(s, userId);
  tell(step, r, { type: "match_cancelled", matchId: m.id, reason: "declined" });
  endRequest(s, clock, step, r, "CANCELLED", "declined");
  reportChange(step, r, { kind: "ended", status: "CANCELLED", outcome: "declined" });
  closeFor(step, r, CloseCode.normal, "declined");
  pairOldestCompatible(s, clock, step, survivors);
  return { step, result: { ok: true } };
}

/** The user's last socket dropped: keep the request for the grace period, then cancel it. */
export function disconnect(s: BucketState, clock: Clock, userId: string): Outcome<{ ok: true }> {
  const step = new Step();
  const r = liveRequestOf(s, userId);
  if (r) {
    r.graceUntil = clock.now + s.settings.reconnectGraceMs;
    s.deadlines.push({ at: r.graceUntil, kind: "grace", id: r.id });
    step.wroteRequest(r);
  }
  return { step, result: { ok: true } };
}

/** The question/collaboration services answered for a match both sides confirmed. */
export function setupSucceeded(
  s: BucketState,
  clock: Clock,
  matchId: string,
  ids: { questionId: string | null; collaborationSessionId: string | null },
): Outcome<{ ok: boolean }> {
  const step = new Step();
  const m = s.matches.get(matchId);
  if (!m?.settingUp) return { step, result: { ok: false } };
  finishMatch(s, clock, step, m, ids.questionId, ids.collaborationSessionId);
  return { step, result: { ok: true } };
}

/** A configured service kept failing: both users go back to the head of the queue. */
export function setupFailed(s: BucketState, clock: Clock, matchId: string): Outcome<{ ok: boolean }> {
  const step = new Step();
  const m = s.matches.get(matchId);
  if (!m?.settingUp) return { step, result: { ok: false } };
  pairOldestCompatible(s, clock, step, breakMatch(s, clock, step, m, [], "setup_failed"));
  return { step, result: { ok: true } };
}

/**
 * Apply every deadline that is due. Safe to call at any time and any number of times: entries
 * are checked against current state, so a repeated or late alarm changes nothing extra. The
 * actor also calls it before every command, so a late alarm never lets a stale action through.
 */
export function expireDue(s: BucketState, at: Clock): Outcome<{ expired: number }> {
  const step = new Step();
  let expired = 0;
  // Requests that may pair at `instant` once every deadline due then has been applied: pairing
  // waits for the end of each instant, so what is due together (a confirm window ending as a
  // rating window widens) is paired by the rule as a whole, not in the order entries pop.
  let fresh: MatchRequest[] = [];
  let instant = at.now;
  for (;;) {
    const d = s.deadlines.peek();
    const due = d !== undefined && d.at <= at.now;
    if (fresh.length > 0 && (!due || d.at !== instant)) {
      pairOldestCompatible(s, { now: instant, newId: at.newId }, step, fresh);
      fresh = [];
      continue;
    }
    if (!due) break;
    s.deadlines.pop();
    // Only the entry for a deadline as it stands now counts: a stale entry (the deadline moved
    // or stopped mattering) must not apply a later deadline early, out of its order.
    if (!isCurrent(s, d.kind, d.id, d.at)) continue;
    // Each deadline takes effect at its own time, so a late alarm does what an alarm on time
    // would have: a match it makes gets its window from then (and may be due in this same pass),
    // and a partner put back is never paired with someone whose own timeout fell due before.
    instant = d.at;
    const clock: Clock = { now: d.at, newId: at.newId };
    if (d.kind === "queue") {
      const r = s.requests.get(d.id)!;
      if (r.home !== null) {
        // A guest entry outliving its home's timeout (a withdrawal still on its way): its home
        // times the request out and tells the user.
        endRequest(s, clock, step, r, "CANCELLED", "withdrawn");
        continue;
      }
      endRequest(s, clock, step, r, "TIMED_OUT", "queue_timeout");
      step.tallies.push({ kind: "queue_timeout" });
      step.send(r.userId, { type: "timeout", requestId: r.id });
      step.close(r.userId, CloseCode.queueTimeout, "queue timeout");
    } else if (d.kind === "confirm") {
      const m = s.matches.get(d.id)!;
      const late = m.users.filter((u) => !m.confirmed.includes(u));
      fresh.push(...breakMatch(s, clock, step, m, late, "partner_timeout"));
      for (const userId of late) {
        const r = requestOf(s, userId);
        tell(step, r, { type: "match_cancelled", matchId: m.id, reason: "confirm_timeout" });
        endRequest(s, clock, step, r, "TIMED_OUT", "confirm_timeout");
        reportChange(step, r, { kind: "ended", status: "TIMED_OUT", outcome: "confirm_timeout" });
        closeFor(step, r, CloseCode.normal, "confirm timeout");
      }
    } else if (d.kind === "grace") {
      const r = s.requests.get(d.id)!;
      if (r.away) {
        // Held by another bucket, which ends it (and tells its partner) and reports back.
        r.graceUntil = null;
        step.wroteRequest(r);
        forward(step, r, { type: "leave", disconnected: true });
        continue;
      }
      const m = r.matchId ? s.matches.get(r.matchId) : undefined;
      if (m) fresh.push(...breakMatch(s, clock, step, m, [r.userId], "partner_left"));
      endRequest(s, clock, step, r, "CANCELLED", "disconnected");
    } else if (d.kind === "widen") {
      widen(s, step, s.requests.get(d.id)!);
      continue;
    } else {
      // A rating window widened or a cooldown ended: the request may be paired now. Not an
      // expiry, so not counted.
      fresh.push(s.requests.get(d.id)!);
      continue;
    }
    expired++;
  }
  return { step, result: { expired } };
}

/** When the next deadline is due, skipping stale heap entries; null when nothing is timed. */
export function nextDeadline(s: BucketState): number | null {
  for (let d = s.deadlines.peek(); d; d = s.deadlines.peek()) {
    if (isCurrent(s, d.kind, d.id, d.at)) return d.at;
    s.deadlines.pop();
  }
  return null;
}

function isCurrent(s: BucketState, kind: DeadlineKind, id: string, at: number): boolean {
  if (kind === "confirm") {
    const m = s.matches.get(id);
    return m !== undefined && !m.settingUp && m.confirmBy === at;
  }
  const r = s.requests.get(id);
  if (!r) return false;
  // A held guest entry waits for its pair's answers: its home, which times the request out,
  // has it lent or will refuse, and the answers settle it either way.
  if (kind === "queue")
    return r.status === "PENDING" && r.expiresAt === at && (r.home === null || r.holdFor === null);
  if (kind === "recheck") return r.status === "PENDING" && r.holdFor === null && r.recheckAt === at;
  if (kind === "widen") return r.widenAt === at;
  return r.graceUntil === at;
}

/** The user's live request that this bucket owns (made here), not a guest entry. */
export function ownRequestOf(s: BucketState, userId: string): MatchRequest | undefined {
  const r = liveRequestOf(s, userId);
  return r?.home === null ? r : undefined;
}

/** The user's live request or guest entry here. */
export function liveRequestOf(s: BucketState, userId: string): MatchRequest | undefined {
  const id = s.byUser.get(userId);
  return id === undefined ? undefined : s.requests.get(id);
}

function matchOf(
  s: BucketState,
  step: Step,
  userId: string,
  matchId: string,
  command: ClientCommand,
): { ok: true; forwarded: false; match: Match } | { ok: true; forwarded: true } | Refusal {
  const r = liveRequestOf(s, userId);
  if (!r) return refuse("no_live_request", "You have no live request in this bucket.");
  // Someone else's match id looks exactly like an unknown one: ids are not an oracle.
  if (r.matchId !== matchId) return refuse("unknown_match", `No match ${matchId} is waiting for you.`);
  if (r.away) {
    forward(step, r, command);
    return { ok: true, forwarded: true };
  }
  const m = s.matches.get(matchId);
  if (!m) return refuse("unknown_match", `No match ${matchId} is waiting for you.`);
  return { ok: true, forwarded: false, match: m };
}

/** The live request of a user known to have one (a match's user, say). */
function requestOf(s: BucketState, userId: string): MatchRequest {
  return s.requests.get(s.byUser.get(userId)!)!;
}

/** The room of this bucket, which its guests know as the home of its requests. */
export function homeOf(s: BucketState): string {
  return roomName(s.bucket);
}

/** Send a user's action on to the bucket holding their request. */
function forward(step: Step, r: MatchRequest, command: ClientCommand): void {
  step.peer(r.away!.room, { kind: "command", requestId: r.id, userId: r.userId, command });
}

const DIFFICULTY_NEIGHBOURS: Record<string, string[]> = {
  easy: ["medium"],
  medium: ["easy", "hard"],
  hard: ["medium"],
};
/** A request waits in at most this many buckets, home included, after widening. */
export const MAX_BUCKETS = 8;

/**
 * Widening: the request also waits in the neighbouring difficulty of each of its topics, up to
 * MAX_BUCKETS in all, and its user hears where it waits now.
 */
function widen(s: BucketState, step: Step, r: MatchRequest): void {
  r.widenAt = null;
  const rooms = bucketsOf(s, r);
  const added: string[] = [];
  for (const room of [...rooms]) {
    const dot = room.indexOf(".");
    for (const d of DIFFICULTY_NEIGHBOURS[room.slice(0, dot)] ?? []) {
      const next = `${d}${room.slice(dot)}`;
      if (rooms.includes(next) || rooms.length >= MAX_BUCKETS) continue;
      rooms.push(next);
      added.push(next);
    }
  }
  r.also.push(...added);
  step.wroteRequest(r);
  // Already placed in its other guests: the new ones get the same epoch. Otherwise `syncGuests`
  // places it everywhere at once.
  if (placed(r)) for (const room of added) step.peer(room, { kind: "place", entry: entryOf(r, homeOf(s)) });
  if (r.status === "PENDING" && r.holdFor === null && added.length > 0)
    step.send(r.userId, queuedFrame(s, r));
}

/** Send the frames that tell a (re)connecting user where their request stands. */
function describeTo(s: BucketState, step: Step, r: MatchRequest): void {
  const m = r.matchId ? s.matches.get(r.matchId) : undefined;
  if (!m) {
    // A guest entry's place is its home's to describe.
    if (r.home === null) step.send(r.userId, queuedFrame(s, r));
    return;
  }
  tell(step, r, matchFoundFrame(s, m, r.userId));
  const partner = partnerOf(m, r.userId);
  if (m.confirmed.includes(partner)) tell(step, r, { type: "partner_confirmed", matchId: m.id });
}

export function endRequest(
  s: BucketState,
  clock: Clock,
  step: Step,
  r: MatchRequest,
  status: RequestStatus,
  outcome: RequestOutcome,
): void {
  if (r.status === "PENDING") dequeue(s, r.id);
  r.status = status;
  r.outcome = outcome;
  r.endedAt = clock.now;
  r.graceUntil = null;
  s.requests.delete(r.id);
  if (s.byUser.get(r.userId) === r.id) s.byUser.delete(r.userId);
  step.wroteRequest(r);
}

type SurvivorReason = "partner_declined" | "partner_timeout" | "partner_left" | "setup_failed";

/** The reason a cancelled match is recorded with, told from the match's point of view. */
const RECORDED_REASON: Record<SurvivorReason, MatchCancelReason> = {
  partner_declined: "declined",
  partner_timeout: "confirm_timeout",
  partner_left: "partner_left",
  setup_failed: "setup_failed",
};

/**
 * A proposed match falls through. `enders` are leaving the queue (the caller ends their
 * requests and tells them why); everyone else goes back to the queue at their original rank,
 * hears `match_cancelled` with `survivorReason`, then `queued`. Returns those survivors: the
 * caller pairs them (at once, or at the end of the instant when applying deadlines).
 */
function breakMatch(
  s: BucketState,
  clock: Clock,
  step: Step,
  m: Match,
  enders: string[],
  survivorReason: SurvivorReason,
): MatchRequest[] {
  m.status = "cancelled";
  m.settingUp = false;
  m.endedAt = clock.now;
  m.reason = RECORDED_REASON[survivorReason];
  s.matches.delete(m.id);
  step.wroteMatch(m);
  step.tallies.push({ kind: "cancelled", reason: m.reason });
  const survivors: MatchRequest[] = [];
  for (const userId of m.users) {
    if (enders.includes(userId)) continue;
    const r = requestOf(s, userId);
    if (r.home !== null) {
      // A guest survivor goes home, which puts it back in every bucket it waits in (this one
      // too) at its place; it does not wait here meanwhile.
      tell(step, r, { type: "match_cancelled", matchId: m.id, reason: survivorReason });
      reportChange(step, r, { kind: "returned" });
      endRequest(s, clock, step, r, "CANCELLED", "withdrawn");
      continue;
    }
    survivors.push(r);
    r.status = "PENDING";
    r.matchId = null;
    r.expiresAt = clock.now + (r.pausedRemainingMs ?? s.settings.queueTimeoutMs);
    r.pausedRemainingMs = null;
    enqueue(s, r);
    s.deadlines.push({ at: r.expiresAt, kind: "queue", id: r.id });
    r.room = null;
    step.wroteRequest(r);
    step.send(userId, { type: "match_cancelled", matchId: m.id, reason: survivorReason });
    step.send(userId, queuedFrame(s, r));
  }
  return survivors;
}

/** Both users of `m` remember each other as a recent partner (the cooldown starts now). */
function notePartners(s: BucketState, clock: Clock, m: Match): void {
  for (const [i, userId] of m.users.entries()) {
    const r = s.requests.get(m.requests[i]!);
    if (r) r.recent = notePartner(r.recent, partnerOf(m, userId), clock.now, s.settings.rematchCooldownMs);
  }
}

function finishMatch(
  s: BucketState,
  clock: Clock,
  step: Step,
  m: Match,
  questionId: string | null,
  collaborationSessionId: string | null,
): void {
  m.status = "confirmed";
  m.settingUp = false;
  m.endedAt = clock.now;
  m.questionId = questionId;
  m.collaborationSessionId = collaborationSessionId;
  s.matches.delete(m.id);
  step.wroteMatch(m);
  step.tallies.push({ kind: "confirmed" });
  notePartners(s, clock, m);
  for (const userId of m.users) {
    const r = requestOf(s, userId);
    endRequest(s, clock, step, r, "CONFIRMED", "confirmed");
    tell(step, r, matchReadyFrame(s, m, userId));
    reportChange(step, r, { kind: "ended", status: "CONFIRMED", outcome: "confirmed" });
    closeFor(step, r, CloseCode.normal, "match ready");
  }
}

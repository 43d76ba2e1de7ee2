import { fnv1a } from "../fnv1a.ts";
import type { MatchRequest, Part, Role, Settings } from "./types.ts";

/**
 * Who may be paired with whom (docs/protocol.md, "Pairing"), in one place. Two waiting
 * requests are compatible when both are present, belong to different users, neither blocked the
 * other, they were not together in a match within the cooldown, their roles fit, and their
 * ratings fit a window that widens with the older request's wait.
 *
 * Compatibility can only grow with time (a cooldown ends, a window widens), so the rule is
 * answered as a time: `compatibleFrom` says from when two requests are compatible if nothing
 * else changes, which lets a bucket set one alarm for the moment a pair becomes possible
 * instead of polling.
 */

/**
 * The earliest time at or after `now` at which `a` and `b` are compatible, or null if time alone
 * never makes them so (absent, same user, blocked, roles clash, ratings beyond any window).
 */
export function compatibleFrom(a: MatchRequest, b: MatchRequest, now: number, s: Settings): number | null {
  // A request in its reconnect grace keeps its place but is skipped until it comes back.
  if (a.graceUntil !== null || b.graceUntil !== null) return null;
  if (a.userId === b.userId) return null;
  if (!rolesFit(a.role, b.role)) return null;
  if (a.blocked.includes(b.userId) || b.blocked.includes(a.userId)) return null;
  let from = now;
  const together = Math.max(a.recent[b.userId] ?? -Infinity, b.recent[a.userId] ?? -Infinity);
  if (together + s.rematchCooldownMs > from) from = together + s.rematchCooldownMs;
  const ratingsFrom = ratingsFitFrom(a, b, s);
  if (ratingsFrom === null) return null;
  return Math.max(from, ratingsFrom);
}

/** Whether two requests are compatible at `now`. */
export function compatible(a: MatchRequest, b: MatchRequest, now: number, s: Settings): boolean {
  return compatibleFrom(a, b, now, s) === now;
}

export function rolesFit(a: Role, b: Role): boolean {
  return a === "either" || b === "either" || a !== b;
}

/**
 * From when the ratings fit: the window is `ratingWindow + ratingWidenStep x k` after the older
 * request has waited k whole `ratingWidenMs`. An unrated request fits anyone at once.
 */
function ratingsFitFrom(a: MatchRequest, b: MatchRequest, s: Settings): number | null {
  if (a.rating === null || b.rating === null) return -Infinity;
  const gap = Math.abs(a.rating - b.rating);
  if (gap <= s.ratingWindow) return -Infinity;
  if (s.ratingWidenStep <= 0) return null;
  const steps = Math.ceil((gap - s.ratingWindow) / s.ratingWidenStep);
  return Math.min(a.createdAt, b.createdAt) + steps * s.ratingWidenMs;
}

/**
 * Who plays what first: the requests' wishes where they have any (they fit, or the two would not
 * be paired), otherwise a coin decided by the match id, so the core stays deterministic.
 */
export function assignParts(a: Role, b: Role, matchId: string): [Part, Part] {
  if (a === "interviewer" || b === "interviewee") return ["interviewer", "interviewee"];
  if (a === "interviewee" || b === "interviewer") return ["interviewee", "interviewer"];
  return coin(matchId) ? ["interviewer", "interviewee"] : ["interviewee", "interviewer"];
}

function coin(id: string): boolean {
  return (fnv1a(id) & 1) === 1;
}

/**
 * The settings compatibility depends on, as one number: a bucket restored under different ones
 * (a redeploy widened the window, say) must look at its waiting pairs again, since the
 * `recheckAt` times it kept were worked out under the old ones.
 */
export function pairingFingerprint(s: Settings): number {
  return fnv1a(`${s.rematchCooldownMs}/${s.ratingWindow}/${s.ratingWidenStep}/${s.ratingWidenMs}`);
}

/** The recent partners still inside the cooldown at `now`, with `partnerId` added at `at`. */
export function notePartner(
  recent: Record<string, number>,
  partnerId: string,
  at: number,
  cooldownMs: number,
): Record<string, number> {
  const kept: Record<string, number> = {};
  for (const [id, t] of Object.entries(recent)) if (t + cooldownMs > at) kept[id] = t;
  kept[partnerId] = at;
  return kept;
}

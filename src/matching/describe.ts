import type { ServerFrameOf } from "../protocol/frames.ts";
import { roomName } from "../protocol/values.ts";
import { type BucketState, queuePosition } from "./state.ts";
import type { Match, MatchRequest, Part } from "./types.ts";

/** Frames that describe live state; shared by join, resume, requeue and `status`. */

export const iso = (ms: number) => new Date(ms).toISOString();

export function queuedFrame(s: BucketState, r: MatchRequest): ServerFrameOf<"queued"> {
  return {
    type: "queued",
    requestId: r.id,
    difficulty: s.bucket.difficulty,
    topic: s.bucket.topic,
    // Only a waiting request is described so; one held for a pair being agreed is at the front.
    position: queuePosition(s, r.id) ?? 1,
    waiting: s.queue.length,
    estimatedWaitMs: s.stats.percentile(50),
    expiresAt: iso(r.expiresAt),
    buckets: bucketsOf(s, r),
  };
}

/** The rooms an owned request waits in, home first. */
export function bucketsOf(s: BucketState, r: MatchRequest): string[] {
  return [roomName(s.bucket), ...r.also];
}

export function partnerOf(m: Match, userId: string): string {
  return m.users[0] === userId ? m.users[1] : m.users[0];
}

/** What the user plays first in the match. */
export function partOf(m: Match, userId: string): Part {
  return m.users[0] === userId ? m.parts[0] : m.parts[1];
}

export function matchFoundFrame(s: BucketState, m: Match, userId: string): ServerFrameOf<"match_found"> {
  return {
    type: "match_found",
    matchId: m.id,
    partnerId: partnerOf(m, userId),
    difficulty: s.bucket.difficulty,
    topic: s.bucket.topic,
    role: partOf(m, userId),
    confirmBy: iso(m.confirmBy),
    room: roomName(s.bucket),
  };
}

/** `s` is the bucket that made the match (only its `bucket` is read). */
export function matchReadyFrame(
  s: Pick<BucketState, "bucket">,
  m: Match,
  userId: string,
): ServerFrameOf<"match_ready"> {
  return {
    type: "match_ready",
    matchId: m.id,
    partnerId: partnerOf(m, userId),
    difficulty: s.bucket.difficulty,
    topic: s.bucket.topic,
    role: partOf(m, userId),
    questionId: m.questionId,
    collaborationSessionId: m.collaborationSessionId,
  };
}

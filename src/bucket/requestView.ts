import { iso, partnerOf, partOf } from "../matching/describe.ts";
import type { Match, MatchRequest } from "../matching/types.ts";
import type { QueueFigures, RequestView } from "../protocol/http.ts";
import { type Bucket, parseRoomName, roomName } from "../protocol/values.ts";

/**
 * A request as the HTTP API shows it to its owner. `home` is the bucket it was made in; once
 * paired, its difficulty and topic are those of the bucket that paired it (`room`).
 */
export function requestView(
  home: Bucket,
  r: MatchRequest,
  match: Match | undefined,
  position: number | null,
): RequestView {
  const paired = (r.room === null ? undefined : parseRoomName(r.room)) ?? home;
  return {
    id: r.id,
    userId: r.userId,
    difficulty: paired.difficulty,
    topic: paired.topic,
    role: r.role,
    rating: r.rating,
    // Lent to another bucket for a pair not yet proposed (it may still fall apart): to its user
    // the request still waits.
    status: r.status === "MATCHED" && r.matchId === null ? "PENDING" : r.status,
    position,
    createdAt: iso(r.createdAt),
    expiresAt: iso(r.expiresAt),
    endedAt: r.endedAt === null ? null : iso(r.endedAt),
    outcome: r.outcome,
    buckets: [roomName(home), ...r.also],
    room: r.room,
    match: match
      ? {
          id: match.id,
          partnerId: partnerOf(match, r.userId),
          role: partOf(match, r.userId),
          status: match.status,
          confirmBy: iso(match.confirmBy),
          youConfirmed: match.confirmed.includes(r.userId),
          partnerConfirmed: match.confirmed.includes(partnerOf(match, r.userId)),
          reason: match.reason,
          questionId: match.questionId,
          collaborationSessionId: match.collaborationSessionId,
        }
      : null,
  };
}

export type { QueueFigures };

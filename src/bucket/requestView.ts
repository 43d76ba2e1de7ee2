import { iso, partnerOf, partOf } from "../matching/describe.ts";
import type { Match, MatchRequest } from "../matching/types.ts";
import type { QueueFigures, RequestView } from "../protocol/http.ts";
import type { Bucket } from "../protocol/values.ts";

/** A request as the HTTP API shows it to its owner. */
export function requestView(
  bucket: Bucket,
  r: MatchRequest,
  match: Match | undefined,
  position: number | null,
): RequestView {
  return {
    id: r.id,
    userId: r.userId,
    difficulty: bucket.difficulty,
    topic: bucket.topic,
    role: r.role,
    rating: r.rating,
    status: r.status,
    position,
    createdAt: iso(r.createdAt),
    expiresAt: iso(r.expiresAt),
    endedAt: r.endedAt === null ? null : iso(r.endedAt),
    outcome: r.outcome,
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

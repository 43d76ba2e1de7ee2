import { assignParts } from "../matching/compatibility.ts";
import { iso, partnerOf, partOf } from "../matching/describe.ts";
import type { Match } from "../matching/types.ts";
import type { ChallengeMatch, ChallengeView } from "../protocol/challenges.ts";
import type { Bucket, Role } from "../protocol/values.ts";
import type { Challenge } from "./challengeRules.ts";

/**
 * The match an accepted challenge makes, as plain data: a match like a bucket's (so session
 * setup, the records and history treat it as any other), both sides confirmed from the start.
 */

/** A match being set up for an accepted challenge, as its owner keeps it until the answer. */
export type ChallengeSetup = {
  challengeId: string;
  bucket: Bucket;
  /** What the challenger asked to play (the opponent asked for nothing). */
  challengeRole: Role;
  match: Match;
};

export function challengeBucket(c: Challenge): Bucket {
  return { difficulty: c.difficulty, topic: c.topic };
}

/** Users in the order of the match: challenger first; requests are the claims' ids. */
export function acceptedMatch(
  c: Challenge,
  ids: { matchId: string; challengerRequest: string; opponentRequest: string },
  now: number,
): ChallengeSetup {
  return {
    challengeId: c.id,
    bucket: challengeBucket(c),
    challengeRole: c.role,
    match: {
      id: ids.matchId,
      users: [c.challengerId, c.opponentId],
      requests: [ids.challengerRequest, ids.opponentRequest],
      parts: assignParts(c.role, "either", ids.matchId),
      createdAt: now,
      confirmBy: now,
      confirmed: [c.challengerId, c.opponentId],
      settingUp: true,
      status: "proposed",
      reason: null,
      endedAt: null,
      questionId: null,
      collaborationSessionId: null,
    },
  };
}

/** The setup's answer: the match confirmed with its session ids, or cancelled `setup_failed`. */
export function settled(
  setup: ChallengeSetup,
  answer:
    | { ok: true; ids: { questionId: string | null; collaborationSessionId: string | null } }
    | { ok: false },
  now: number,
): Match {
  const base = { ...setup.match, settingUp: false, endedAt: now };
  return answer.ok
    ? { ...base, status: "confirmed", ...answer.ids }
    : { ...base, status: "cancelled", reason: "setup_failed" };
}

/**
 * The durable rows of a settled match: the match and each side's request (the claim it held),
 * each naming its bucket, since a user's own object has none of its own.
 */
export function recordsOf(
  setup: ChallengeSetup,
  match: Match,
): Array<{ kind: "match" | "request"; body: object }> {
  const confirmed = match.status === "confirmed";
  const where = { difficulty: setup.bucket.difficulty, topic: setup.bucket.topic };
  const requests = match.users.map((userId, i) => ({
    kind: "request" as const,
    body: {
      id: match.requests[i],
      userId,
      status: confirmed ? "CONFIRMED" : "CANCELLED",
      createdAt: match.createdAt,
      endedAt: match.endedAt,
      outcome: confirmed ? "confirmed" : "setup_failed",
      matchId: match.id,
      role: i === 0 ? setup.challengeRole : "either",
      rating: null,
      ...where,
    },
  }));
  return [{ kind: "match", body: { ...match, ...where } }, ...requests];
}

/** The match from one side, as the channel's `challenge_accepted` and `match_ready` show it. */
export function matchFor(setup: ChallengeSetup, match: Match, userId: string): ChallengeMatch {
  return {
    matchId: match.id,
    partnerId: partnerOf(match, userId),
    difficulty: setup.bucket.difficulty,
    topic: setup.bucket.topic,
    role: partOf(match, userId),
    questionId: match.questionId,
    collaborationSessionId: match.collaborationSessionId,
  };
}

export function challengeView(c: Challenge, status = c.status): ChallengeView {
  return {
    id: c.id,
    challengerId: c.challengerId,
    opponentId: c.opponentId,
    difficulty: c.difficulty,
    topic: c.topic,
    role: c.role,
    status,
    createdAt: iso(c.createdAt),
    expiresAt: iso(c.expiresAt),
    matchId: c.matchId,
  };
}

import type { Bucket, Role } from "../protocol/values.ts";

/**
 * The rules of a challenge (docs/protocol.md, "Challenges"), as pure functions over plain data: who may
 * do what, when it expires, what each action leaves behind. The owning Durable Object
 * (`UserActor`, the opponent's) applies them one at a time, so two actions never race here.
 */

export type ChallengeStatus = "PENDING" | "ACCEPTED" | "DECLINED" | "CANCELLED" | "EXPIRED";

export interface Challenge {
  id: string;
  challengerId: string;
  opponentId: string;
  difficulty: Bucket["difficulty"];
  topic: string;
  /** What the challenger asked to play first; the opponent plays the other part. */
  role: Role;
  status: ChallengeStatus;
  createdAt: number;
  expiresAt: number;
  endedAt: number | null;
  /** The match an accepted challenge made (also while its session is being set up). */
  matchId: string | null;
}

export type ChallengeAction = "accept" | "decline" | "cancel";

/** Challenges one user may send per window: plenty for a person, and it stops a spammer. */
export const CHALLENGES_PER_WINDOW = 10;
export const CHALLENGE_WINDOW_SECONDS = 60;

export function tooManyChallenges(): ChallengeRefusal {
  return challengeRefusal(
    429,
    "rate_limited",
    `You sent ${CHALLENGES_PER_WINDOW} challenges in the last ${CHALLENGE_WINDOW_SECONDS} seconds; try again later.`,
    CHALLENGE_WINDOW_SECONDS,
  );
}

/** Why an action or a new challenge is refused, as the HTTP API answers it. */
export type ChallengeRefusal = {
  ok: false;
  status: 400 | 403 | 404 | 409 | 410 | 429 | 503;
  code: string;
  message: string;
  /** For 429 and 503: when to try again. */
  retryAfterSeconds?: number;
};

export function challengeRefusal(
  status: ChallengeRefusal["status"],
  code: string,
  message: string,
  retryAfterSeconds?: number,
): ChallengeRefusal {
  return retryAfterSeconds === undefined
    ? { ok: false, status, code, message }
    : { ok: false, status, code, message, retryAfterSeconds };
}

export function newChallenge(
  wish: { challengerId: string; opponentId: string; bucket: Bucket; role: Role },
  now: number,
  ttlMs: number,
  id: string,
): { ok: true; challenge: Challenge } | ChallengeRefusal {
  if (wish.challengerId === wish.opponentId) {
    return challengeRefusal(400, "invalid_parameter", "You cannot challenge yourself.");
  }
  return {
    ok: true,
    challenge: {
      id,
      challengerId: wish.challengerId,
      opponentId: wish.opponentId,
      difficulty: wish.bucket.difficulty,
      topic: wish.bucket.topic,
      role: wish.role,
      status: "PENDING",
      createdAt: now,
      expiresAt: now + ttlMs,
      endedAt: null,
      matchId: null,
    },
  };
}

/** Pending and not yet past its time: a late alarm must not let a stale challenge count. */
export function isOpen(c: Challenge, now: number): boolean {
  return c.status === "PENDING" && now < c.expiresAt;
}

/** The status a reader sees: a pending challenge past its time is expired, alarm or not. */
export function effectiveStatus(c: Challenge, now: number): ChallengeStatus {
  return c.status === "PENDING" && now >= c.expiresAt ? "EXPIRED" : c.status;
}

/** Whether `a` and `b` already have an open challenge between them, either way round. */
export function openBetween(challenges: Iterable<Challenge>, a: string, b: string, now: number): boolean {
  for (const c of challenges) {
    const between =
      (c.challengerId === a && c.opponentId === b) || (c.challengerId === b && c.opponentId === a);
    if (between && isOpen(c, now)) return true;
  }
  return false;
}

export function isParty(c: Challenge, userId: string): boolean {
  return c.challengerId === userId || c.opponentId === userId;
}

/**
 * May `userId` take `action` on the challenge now? Accept and decline are the opponent's,
 * cancel the challenger's; anyone else is told it does not exist. A challenge past its time is
 * gone (410) even before the alarm marks it; one already decided is a 409.
 */
export function mayAct(
  c: Challenge | undefined,
  action: ChallengeAction,
  userId: string,
  now: number,
): { ok: true } | ChallengeRefusal {
  if (!c || !isParty(c, userId)) return challengeRefusal(404, "not_found", "No such challenge of yours.");
  const actor = action === "cancel" ? c.challengerId : c.opponentId;
  if (userId !== actor) {
    const who = action === "cancel" ? "challenger" : "opponent";
    return challengeRefusal(409, "not_allowed", `Only the ${who} may ${action} this challenge.`);
  }
  const status = effectiveStatus(c, now);
  if (status === "EXPIRED") return challengeRefusal(410, "challenge_expired", "The challenge has expired.");
  if (status !== "PENDING") {
    return challengeRefusal(
      409,
      "challenge_not_pending",
      `The challenge is already ${status.toLowerCase()}.`,
    );
  }
  return { ok: true };
}

/** The challenge after a decided action or expiry; accepting needs the match's id. */
export function ended(
  c: Challenge,
  status: Exclude<ChallengeStatus, "PENDING">,
  now: number,
  matchId: string | null = null,
): Challenge {
  return { ...c, status, endedAt: now, matchId: status === "ACCEPTED" ? matchId : c.matchId };
}

/**
 * An accepted challenge whose session could not be set up goes back to waiting for an answer
 * (as a queue match's survivors go back to the queue), or expires if its time ran out meanwhile.
 */
export function reopened(c: Challenge, now: number): Challenge {
  const back: Challenge = { ...c, status: "PENDING", endedAt: null, matchId: null };
  return now >= c.expiresAt ? ended(back, "EXPIRED", c.expiresAt) : back;
}

/** Pending challenges whose time is up at `now`, skipping those an action holds right now. */
export function dueToExpire(
  challenges: Iterable<Challenge>,
  now: number,
  busy: ReadonlySet<string>,
): Challenge[] {
  const due: Challenge[] = [];
  for (const c of challenges)
    if (c.status === "PENDING" && c.expiresAt <= now && !busy.has(c.id)) due.push(c);
  return due;
}

/** Open ones, newest first (`GET /challenges/incoming`, `/outgoing`). */
export function openNewestFirst(challenges: Iterable<Challenge>, now: number): Challenge[] {
  return [...challenges]
    .filter((c) => isOpen(c, now))
    .sort((a, b) => b.createdAt - a.createdAt || (a.id < b.id ? 1 : -1));
}

/** Blocks stop challenges both ways: either user's list naming the other refuses it. */
export function blockedEitherWay(
  a: { userId: string; blocked: readonly string[] },
  b: { userId: string; blocked: readonly string[] },
): boolean {
  return a.blocked.includes(b.userId) || b.blocked.includes(a.userId);
}

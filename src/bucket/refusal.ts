import { JOIN_WINDOW_SECONDS } from "../matching/joinRate.ts";
import type { Match } from "../matching/types.ts";
import { CloseCode } from "../protocol/frames.ts";
import { parseUserActorName, splitTenant } from "../tenancy.ts";

/** A refusal the router turns into an HTTP error (sockets get an `error` frame and a close). */
export type Refusal = {
  ok: false;
  status: 404 | 409 | 410 | 429 | 503;
  code: string;
  message: string;
  /** For 429 and 503 maintenance: when to try again. */
  retryAfterSeconds?: number;
  /** For `already_queued`: the actor holding the user's claim (it may owe them an outcome). */
  heldBy?: string;
};

export function refusal(status: Refusal["status"], code: string, message: string): Refusal {
  return { ok: false, status, code, message };
}

export function notFound(message: string): Refusal {
  return refusal(404, "not_found", message);
}

export function tooManyJoins(): Refusal {
  return {
    ...refusal(429, "rate_limited", `Too many joins; try again in ${JOIN_WINDOW_SECONDS} seconds.`),
    retryAfterSeconds: JOIN_WINDOW_SECONDS,
  };
}

export function liveElsewhere(actorName: string): Refusal {
  if (parseUserActorName(actorName)) {
    return refusal(
      409,
      "already_queued",
      "You are in a challenge's match being set up; join once it is ready.",
    );
  }
  // The user's own room, never their tenant's object name.
  const room = splitTenant(actorName).base;
  return {
    ...refusal(409, "already_queued", `You already have a live request in ${room}; leave it first.`),
    heldBy: actorName,
  };
}

export const MAINTENANCE_MESSAGE =
  "Matching is paused for maintenance; requests and matches already under way finish normally. Try again later.";

export function maintenance(): Refusal {
  return { ...refusal(503, "maintenance", MAINTENANCE_MESSAGE), retryAfterSeconds: 300 };
}

export function unavailable(): Refusal {
  return refusal(503, "unavailable", "The join could not be taken just now; try again.");
}

/** The close code a socket refused with this gets. */
export function refusalClose(r: Refusal): number {
  if (r.code === "already_queued") return CloseCode.alreadyQueuedElsewhere;
  if (r.code === "rate_limited") return CloseCode.rateLimited;
  if (r.code === "maintenance") return CloseCode.tryAgainLater;
  return 1011;
}

/**
 * The refusal a join's `error` frame stands for (`refuseSocket` sends one when the bucket refuses
 * an upgrade), so a route that answers in HTTP gives the status and Retry-After `POST /request`
 * gives for the same refusal.
 */
export function joinRefusal(code: string, message: string): Refusal {
  const known =
    code === "already_queued"
      ? refusal(409, code, message)
      : code === "rate_limited"
        ? tooManyJoins()
        : code === "maintenance"
          ? maintenance()
          : code === "request_not_found"
            ? refusal(404, code, message)
            : unavailable();
  return { ...known, message };
}

/** Why a confirm or decline of `matchId` (as stored: ended, or unknown) cannot be taken. */
export function whyNotConfirmable(m: Match | undefined, userId: string, matchId: string): Refusal {
  if (!m?.users.includes(userId)) return notFound(`No match ${matchId} of yours is known.`);
  if (m.reason === "confirm_timeout") {
    return refusal(410, "confirm_window_over", "The confirmation window is over; join the queue again.");
  }
  return refusal(409, "match_not_pending", `The match is already ${m.status}; there is nothing to confirm.`);
}

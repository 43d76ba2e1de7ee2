import type { Acquaintances, ClaimResult } from "../registry/claimRule.ts";
import type { RegistryClient } from "../registry/RegistryClient.ts";
import { type ChallengeRefusal, challengeRefusal } from "./challengeRules.ts";

/** Both users' claims granted for a challenge's match: the request ids they hold, and whom each knows. */
export type PairGrant = { ok: true; requestIds: [string, string]; grants: [Acquaintances, Acquaintances] };

/**
 * Claim the one live request of both users of a challenge's match in their registry shards, as a
 * bucket claims for a request (the claims name the owner, through `registry`). If either is
 * refused, the other is given back and the refusal says whose it was.
 */
export async function claimPair(
  registry: RegistryClient,
  users: [challengerId: string, opponentId: string],
): Promise<PairGrant | ChallengeRefusal> {
  const requestIds: [string, string] = [`req_${crypto.randomUUID()}`, `req_${crypto.randomUUID()}`];
  const results = await Promise.all(
    users.map((u, i) =>
      registry.claim(u, requestIds[i]!).catch((): ClaimResult => ({ ok: false, reason: "unavailable" })),
    ),
  );
  const [challenger, opponent] = results as [ClaimResult, ClaimResult];
  if (!challenger.ok || !opponent.ok) {
    for (const [i, r] of results.entries()) if (r.ok) registry.release(users[i]!, requestIds[i]!);
    if (!challenger.ok) return refusedClaim(challenger, `${users[0]} has`);
    if (!opponent.ok) return refusedClaim(opponent, "You have");
  }
  return { ok: true, requestIds, grants: [challenger, opponent] };
}

/** Maintenance refuses new challenges and their accepts, as it refuses new requests. */
export function pausedForMaintenance(): ChallengeRefusal {
  return challengeRefusal(503, "maintenance", "Matching is paused for maintenance; try again later.", 300);
}

/** A refused claim as the accept answers it; `whose` names the user it was refused for. */
export function refusedClaim(r: Exclude<ClaimResult, { ok: true }>, whose: string): ChallengeRefusal {
  switch (r.reason) {
    case "live_elsewhere":
      return challengeRefusal(409, "already_queued", `${whose} a live request; it must end first.`);
    case "rate_limited":
      return challengeRefusal(
        429,
        "rate_limited",
        "Too many new requests lately; try again in a minute.",
        60,
      );
    case "maintenance":
      return pausedForMaintenance();
    default:
      return challengeRefusal(
        503,
        "unavailable",
        "The challenge could not be accepted just now; try again.",
        1,
      );
  }
}

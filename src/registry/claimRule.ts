/** The claim a registry shard holds for a user: which bucket, which request. */
export type HeldClaim = { room: string; requestId: string };

/**
 * What pairing must know about a user beyond their request, handed over with a granted claim so
 * the bucket never asks a database on the join path: whom they blocked, and their partners still
 * inside the rematch cooldown (user id -> when that match ended).
 */
export type Acquaintances = {
  blocked: string[];
  recent: Record<string, number>;
  /** The user's own channel is open: their bucket sends them `request_update`. */
  watched?: boolean;
};

/**
 * A claim is granted (with the user's acquaintances), or refused: naming the bucket that holds
 * the user's live request, because the user started too many requests lately, because the
 * tenant is in maintenance (new requests are refused, live ones go on), or because it could
 * not be decided just now.
 */
export type ClaimResult =
  | ({ ok: true } & Acquaintances)
  | { ok: false; reason: "live_elsewhere"; room: string }
  | { ok: false; reason: "rate_limited" }
  | { ok: false; reason: "maintenance" }
  | { ok: false; reason: "unavailable" };

/**
 * What a claim for `room` needs, given the user's current claim. None: granted. One for the
 * same room: granted too, because a bucket claims only when it holds no live request of the
 * user (due deadlines applied first), so that claim is stale: its release was lost or is still
 * on its way. One for another room: that bucket must be asked whether the request is still live
 * before it is taken over.
 */
export function claimNeeds(held: HeldClaim | null, room: string): "grant" | "verify" {
  return held === null || held.room === room ? "grant" : "verify";
}

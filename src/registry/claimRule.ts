/** The claim a registry shard holds for a user: which bucket, which request. */
export type HeldClaim = { room: string; requestId: string };

/**
 * A claim is granted, or refused: naming the bucket that holds the user's live request, because
 * the user started too many requests lately, or because it could not be decided just now.
 */
export type ClaimResult =
  | { ok: true }
  | { ok: false; reason: "live_elsewhere"; room: string }
  | { ok: false; reason: "rate_limited" }
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

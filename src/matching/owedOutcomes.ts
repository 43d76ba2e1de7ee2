import { CloseCode, type ServerFrame } from "../protocol/frames.ts";
import type { Bucket } from "../protocol/values.ts";
import { matchReadyFrame } from "./describe.ts";
import type { Effect, Match, MatchRequest } from "./types.ts";

/**
 * What a user missed while no socket or stream of theirs was open in their request's home: the
 * frames that tell how a request ended or how its match fell through, and the close that ended
 * it. The next connect inside the grace gets them, in order, instead of a new request; while an
 * ended request's outcome is owed the user still counts as engaged here, so no other bucket and
 * no `POST /request` can queue them again (docs/protocol.md, "Reconnecting after a drop").
 */
export type Owed = {
  userId: string;
  /** The request the frames are about (owned by this bucket). */
  requestId: string;
  frames: ServerFrame[];
  /** The close of an ended request; null while the request is live (it is resumed instead). */
  close: { code: number; reason: string } | null;
  /** Owed until then: the reconnect grace, counted from the last frame missed. */
  until: number;
  /** An ended request's partners, released to the registry with its claim once delivered. */
  recent: Record<string, number>;
};

/**
 * Frames a reconnect cannot rebuild from live state. `queued`, `match_found` and
 * `partner_confirmed` are described afresh on resume (`describeTo`), so they are not kept.
 */
const MISSABLE: ReadonlySet<ServerFrame["type"]> = new Set([
  "match_cancelled",
  "match_ready",
  "timeout",
  "cancelled",
]);

/**
 * Fold what one step sent and closed for users who are absent into what they are owed. Returns
 * the users whose entry changed (to be stored with the step). `requestOf` names the user's
 * request here that the frames are about (live, or ended by this step).
 */
export function noteMissed(
  owed: Map<string, Owed>,
  effects: readonly Effect[],
  absent: (userId: string) => boolean,
  requestOf: (userId: string) => MatchRequest | undefined,
  now: number,
  graceMs: number,
): string[] {
  const changed: string[] = [];
  for (const e of effects) {
    if (e.kind !== "send" && e.kind !== "close") continue;
    if (e.kind === "send" && !MISSABLE.has(e.frame.type)) continue;
    if (!absent(e.userId)) continue;
    const r = requestOf(e.userId);
    if (!r) continue;
    let entry = owed.get(e.userId);
    if (entry?.requestId !== r.id) {
      // A newer request's outcome supersedes whatever was owed of an older one.
      entry = { userId: e.userId, requestId: r.id, frames: [], close: null, until: 0, recent: {} };
      owed.set(e.userId, entry);
    }
    if (e.kind === "send") entry.frames.push(e.frame);
    else entry.close = { code: e.code, reason: e.reason };
    entry.until = now + graceMs;
    entry.recent = { ...r.recent };
    if (!changed.includes(e.userId)) changed.push(e.userId);
  }
  return changed;
}

/** Whether an entry still holds something owed at `now`. */
export function stillOwed(entry: Owed | undefined, now: number): entry is Owed {
  return entry !== undefined && entry.until > now;
}

/** An ended request's outcome is owed: the next connect here gets it instead of a new request. */
export function owesOutcome(entry: Owed | undefined, now: number): entry is Owed {
  return stillOwed(entry, now) && entry.close !== null;
}

/**
 * The owed outcome is a match that stands: until it is delivered the user is engaged here, and
 * no bucket and no `POST /request` may queue them again (their registry claim is kept).
 */
export function engages(entry: Owed | undefined, now: number): entry is Owed {
  return owesOutcome(entry, now) && entry.frames.some((f) => f.type === "match_ready");
}

/**
 * The last frame and close of a request that ended (`resume=` of an ended request): what its
 * socket was told when it ended. `m` is its match when it has one; `room` the bucket that paired
 * it (its `match_ready` names that bucket).
 */
export function lastWords(
  r: MatchRequest,
  m: Match | undefined,
  room: Bucket,
): { frames: ServerFrame[]; close: { code: number; reason: string } } {
  if (r.status === "CONFIRMED" && m) {
    return {
      frames: [matchReadyFrame({ bucket: room }, m, r.userId)],
      close: { code: CloseCode.normal, reason: "match ready" },
    };
  }
  if (r.outcome === "queue_timeout") {
    return {
      frames: [{ type: "timeout", requestId: r.id }],
      close: { code: CloseCode.queueTimeout, reason: "queue timeout" },
    };
  }
  if ((r.outcome === "declined" || r.outcome === "confirm_timeout") && r.matchId) {
    return {
      frames: [{ type: "match_cancelled", matchId: r.matchId, reason: r.outcome }],
      close: { code: CloseCode.normal, reason: r.outcome === "declined" ? "declined" : "confirm timeout" },
    };
  }
  return {
    frames: [{ type: "cancelled", requestId: r.id }],
    close: { code: CloseCode.normal, reason: "left" },
  };
}

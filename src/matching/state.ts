import { DeadlineHeap } from "./deadlines.ts";
import type { Bucket, Match, MatchRequest, Settings } from "./types.ts";
import { WaitStats } from "./waitStats.ts";

/**
 * Everything live in one bucket. Ended requests and matches leave these maps at once (their
 * final rows are written out by the step that ended them), so memory holds only what can still
 * change. The actor rebuilds this from its storage with `restoreBucketState` after eviction.
 */
export interface BucketState {
  bucket: Bucket;
  settings: Settings;
  /** Live requests (PENDING or MATCHED) by id. */
  requests: Map<string, MatchRequest>;
  /** userId -> live request id: at most one per user. */
  byUser: Map<string, string>;
  /** Live matches (proposed, including those being set up) by id. */
  matches: Map<string, Match>;
  /**
   * Waiting request ids, oldest first by creation (`servedBefore`): the head is the request that
   * has waited longest, wherever it was created. Requests held for a pair are not in it.
   */
  queue: string[];
  /**
   * Pairs held while their guests' homes are asked to hand them over: pair id -> its two request
   * ids in the order they are taken (`pairOrder`).
   */
  held: Map<string, [string, string]>;
  nextRank: number;
  deadlines: DeadlineHeap;
  stats: WaitStats;
}

export function createBucketState(bucket: Bucket, settings: Settings): BucketState {
  return {
    bucket,
    settings,
    requests: new Map(),
    byUser: new Map(),
    matches: new Map(),
    queue: [],
    held: new Map(),
    nextRank: 1,
    deadlines: new DeadlineHeap(),
    stats: new WaitStats(),
  };
}

/** Rebuild live state from stored rows (any order); deadlines are re-derived from the rows. */
export function restoreBucketState(
  bucket: Bucket,
  settings: Settings,
  rows: { requests: MatchRequest[]; matches: Match[]; nextRank: number },
): BucketState {
  const s = createBucketState(bucket, settings);
  s.nextRank = rows.nextRank;
  for (const r of rows.requests) {
    if (r.status !== "PENDING" && r.status !== "MATCHED") continue;
    s.requests.set(r.id, r);
    s.byUser.set(r.userId, r.id);
    if (r.status === "PENDING" && r.holdFor !== null) {
      s.held.set(r.holdFor, pairOrder(r.id, r.heldWith ?? ""));
      s.deadlines.push({ at: r.expiresAt, kind: "queue", id: r.id });
    } else if (r.status === "PENDING") {
      s.queue.push(r.id);
      s.deadlines.push({ at: r.expiresAt, kind: "queue", id: r.id });
      if (r.recheckAt !== null) s.deadlines.push({ at: r.recheckAt, kind: "recheck", id: r.id });
    }
    if (r.graceUntil !== null) s.deadlines.push({ at: r.graceUntil, kind: "grace", id: r.id });
    s.nextRank = Math.max(s.nextRank, r.rank + 1);
  }
  s.queue.sort((a, b) => (servedBefore(s.requests.get(a)!, s.requests.get(b)!) ? -1 : 1));
  for (const m of rows.matches) {
    if (m.status !== "proposed") continue;
    s.matches.set(m.id, m);
    if (!m.settingUp) s.deadlines.push({ at: m.confirmBy, kind: "confirm", id: m.id });
  }
  return s;
}

/**
 * The order in which a pair's two requests are taken: by id, the same order in every bucket, so
 * two buckets that each want both of two requests never each take one and wait for the other.
 */
export function pairOrder<T extends string | { id: string }>(a: T, b: T): [T, T] {
  const id = (x: T) => (typeof x === "string" ? x : x.id);
  return id(a) < id(b) ? [a, b] : [b, a];
}

export type FlexibleFields =
  | "home"
  | "also"
  | "widenAt"
  | "epoch"
  | "holdFor"
  | "heldWith"
  | "away"
  | "leaving"
  | "room";

/** A request's flexible fields when it waits in its own bucket only (and rows from before them). */
export function inItsOwnBucket(): Pick<MatchRequest, FlexibleFields> {
  return {
    home: null,
    also: [],
    widenAt: null,
    epoch: 0,
    holdFor: null,
    heldWith: null,
    away: null,
    leaving: null,
    room: null,
  };
}

/**
 * Queue order (docs/protocol.md, "waiting in several buckets"): the older request since creation first, so a
 * request arriving from another bucket keeps its age; the bucket's own join order breaks ties.
 */
export function servedBefore(a: MatchRequest, b: MatchRequest): boolean {
  return a.createdAt !== b.createdAt ? a.createdAt < b.createdAt : a.rank < b.rank;
}

/** Insert a PENDING request into the queue at its place: O(log n) search, usually at the end. */
export function enqueue(s: BucketState, r: MatchRequest): void {
  let lo = 0;
  let hi = s.queue.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (servedBefore(s.requests.get(s.queue[mid]!)!, r)) lo = mid + 1;
    else hi = mid;
  }
  s.queue.splice(lo, 0, r.id);
}

export function dequeue(s: BucketState, requestId: string): void {
  // The request is almost always the head (paired) or the only one (timed out).
  const i = s.queue[0] === requestId ? 0 : s.queue.indexOf(requestId);
  if (i >= 0) s.queue.splice(i, 1);
}

/** 1-based place of a request in the queue, or null if it is not waiting. The head is the common case. */
export function queuePosition(s: BucketState, requestId: string): number | null {
  const index = s.queue[0] === requestId ? 0 : s.queue.indexOf(requestId);
  return index >= 0 ? index + 1 : null;
}

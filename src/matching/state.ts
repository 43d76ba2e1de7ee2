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
  /** PENDING request ids in rank order: the head is the oldest waiting request. */
  queue: string[];
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
    if (r.status === "PENDING") {
      s.queue.push(r.id);
      s.deadlines.push({ at: r.expiresAt, kind: "queue", id: r.id });
      if (r.recheckAt !== null) s.deadlines.push({ at: r.recheckAt, kind: "recheck", id: r.id });
    }
    if (r.graceUntil !== null) s.deadlines.push({ at: r.graceUntil, kind: "grace", id: r.id });
    s.nextRank = Math.max(s.nextRank, r.rank + 1);
  }
  s.queue.sort((a, b) => s.requests.get(a)!.rank - s.requests.get(b)!.rank);
  for (const m of rows.matches) {
    if (m.status !== "proposed") continue;
    s.matches.set(m.id, m);
    if (!m.settingUp) s.deadlines.push({ at: m.confirmBy, kind: "confirm", id: m.id });
  }
  return s;
}

/** Insert a PENDING request into the queue at its rank: O(log n) search, usually at the end. */
export function enqueue(s: BucketState, r: MatchRequest): void {
  let lo = 0;
  let hi = s.queue.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (s.requests.get(s.queue[mid]!)!.rank < r.rank) lo = mid + 1;
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

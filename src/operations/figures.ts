import type { Tally } from "../matching/step.ts";
import type { MatchCancelReason } from "../protocol/frames.ts";

/**
 * What a bucket tells the directory (`Directory.ts`) about itself, at most once a second while it
 * changes: its live figures as they are now, and what happened since its last report. The
 * directory answers `/status`, `/metrics` and `/internal/queues/summary` from these alone, never
 * by calling every bucket.
 */
export type BucketReport = {
  tenant: string;
  room: string;
  /** Requests waiting now, and live ones (waiting or in a proposed match). */
  waiting: number;
  live: number;
  p50WaitMs: number | null;
  p95WaitMs: number | null;
  /** Since the last report. */
  counts: Counts;
};

export type Counts = {
  joins: number;
  proposed: number;
  confirmed: number;
  queueTimeouts: number;
  cancelled: Partial<Record<MatchCancelReason, number>>;
  /** Join -> match_found, one per user matched. */
  waitsMs: number[];
  /** Asks of other buckets for this bucket's requests (flexible requests), by answer. */
  handOvers: { granted: number; refused: number };
};

export function noCounts(): Counts {
  return {
    joins: 0,
    proposed: 0,
    confirmed: 0,
    queueTimeouts: 0,
    cancelled: {},
    waitsMs: [],
    handOvers: { granted: 0, refused: 0 },
  };
}

/** Add a step's tallies to `into`. */
export function countTallies(into: Counts, tallies: readonly Tally[]): void {
  for (const t of tallies) {
    if (t.kind === "joined") into.joins++;
    else if (t.kind === "proposed") {
      into.proposed++;
      into.waitsMs.push(...t.waitsMs);
    } else if (t.kind === "confirmed") into.confirmed++;
    else if (t.kind === "queue_timeout") into.queueTimeouts++;
    else if (t.kind === "handover") into.handOvers[t.granted ? "granted" : "refused"]++;
    else into.cancelled[t.reason] = (into.cancelled[t.reason] ?? 0) + 1;
  }
}

/** Put counts that did not reach the directory back in front of the ones since. */
export function mergeCounts(into: Counts, from: Counts): void {
  into.joins += from.joins;
  into.proposed += from.proposed;
  into.confirmed += from.confirmed;
  into.queueTimeouts += from.queueTimeouts;
  into.handOvers.granted += from.handOvers.granted;
  into.handOvers.refused += from.handOvers.refused;
  for (const [reason, n] of Object.entries(from.cancelled) as Array<[MatchCancelReason, number]>) {
    into.cancelled[reason] = (into.cancelled[reason] ?? 0) + n;
  }
  into.waitsMs.unshift(...from.waitsMs);
}

/** Totals since the directory's storage began, for `/metrics`. */
export type Totals = {
  counters: Array<{ name: string; labels: Record<string, string>; value: number }>;
  waiting: number;
  activeBuckets: number;
  /** Non-cumulative counts per `WAIT_BUCKETS_SECONDS` bucket, then +Inf. */
  waitBuckets: number[];
  waitSum: number;
};

/** Upper bounds (seconds) of `matcher_wait_seconds`: from an instant pair to a long wait. */
export const WAIT_BUCKETS_SECONDS = [
  0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600,
] as const;

/** The first bucket a wait falls in; `WAIT_BUCKETS_SECONDS.length` is +Inf. */
export function waitBucketOf(seconds: number): number {
  const i = WAIT_BUCKETS_SECONDS.findIndex((le) => seconds <= le);
  return i < 0 ? WAIT_BUCKETS_SECONDS.length : i;
}

/** `matcher_matches_total`'s outcomes, each shown from zero. */
export const MATCH_OUTCOMES = ["proposed", "confirmed", "cancelled"] as const;

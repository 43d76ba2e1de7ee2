import type { MatchCancelReason } from "../protocol/frames.ts";
import { type Counts, WAIT_BUCKETS_SECONDS, waitBucketOf } from "./figures.ts";

/**
 * A tenant's activity minute by minute over the last hour, as the operators' dashboard (`/admin`)
 * draws it: what `/metrics` counts since the start, but per tenant and only for the hour. Each
 * bucket's row in the directory carries its own minutes (those in which something happened, for
 * the last hour), written with the report it already makes, so the charts cost no row of their
 * own; the view sums the tenant's buckets.
 */
export type MinuteActivity = {
  proposed: number;
  confirmed: number;
  queueTimeouts: number;
  cancelled: Partial<Record<MatchCancelReason, number>>;
  /** Waits (join -> match_found) per `WAIT_BUCKETS_SECONDS` bucket, then +Inf; not cumulative. */
  waits: number[];
  handOvers: { granted: number; refused: number };
};

export const MINUTE_MS = 60_000;
export const HOUR_MINUTES = 60;

export function noActivity(): MinuteActivity {
  return {
    proposed: 0,
    confirmed: 0,
    queueTimeouts: 0,
    cancelled: {},
    waits: WAIT_BUCKETS_SECONDS.map(() => 0).concat(0),
    handOvers: { granted: 0, refused: 0 },
  };
}

/** Whether a report's counts hold anything the dashboard draws (joins alone are not drawn). */
export function hasActivity(c: Counts): boolean {
  return (
    c.proposed > 0 ||
    c.confirmed > 0 ||
    c.queueTimeouts > 0 ||
    Object.values(c.cancelled).some((n) => n > 0) ||
    // Reports from buckets running the version before flexible requests carry no hand-overs.
    (c.handOvers?.granted ?? 0) > 0 ||
    (c.handOvers?.refused ?? 0) > 0
  );
}

/** The minute's activity with a report's counts added. */
export function addActivity(minute: MinuteActivity, c: Counts): MinuteActivity {
  const next: MinuteActivity = {
    proposed: minute.proposed + c.proposed,
    confirmed: minute.confirmed + c.confirmed,
    queueTimeouts: minute.queueTimeouts + c.queueTimeouts,
    cancelled: { ...minute.cancelled },
    waits: noActivity().waits.map((_, i) => minute.waits[i] ?? 0),
    handOvers: {
      granted: minute.handOvers.granted + (c.handOvers?.granted ?? 0),
      refused: minute.handOvers.refused + (c.handOvers?.refused ?? 0),
    },
  };
  for (const [reason, n] of Object.entries(c.cancelled) as Array<[MatchCancelReason, number]>) {
    next.cancelled[reason] = (next.cancelled[reason] ?? 0) + n;
  }
  for (const ms of c.waitsMs) next.waits[waitBucketOf(ms / 1000)]! += 1;
  return next;
}

/** The dashboard's view of the last hour, built from the stored minutes. */
export type ActivityView = {
  /** The first and the current minute of the hour shown. */
  from: string;
  to: string;
  /** One entry per minute, oldest first, quiet minutes included with zeros. */
  minutes: Array<{
    at: string;
    proposed: number;
    confirmed: number;
    cancelled: number;
    queueTimeouts: number;
  }>;
  /** Upper bounds of the wait buckets in seconds (the last, +Inf, as null) and their counts. */
  waits: { leSeconds: Array<number | null>; counts: number[] };
  cancellations: Partial<Record<MatchCancelReason, number>>;
  queueTimeouts: number;
  handOvers: { granted: number; refused: number };
};

/** The hour ending with `nowMinute` (minutes since the epoch), from the rows stored for it. */
export function activityView(rows: Array<{ minute: number; activity: MinuteActivity }>, nowMinute: number) {
  const first = nowMinute - HOUR_MINUTES + 1;
  const total = noActivity();
  const minutes: ActivityView["minutes"] = [];
  for (let m = first; m <= nowMinute; m++) {
    minutes.push({
      at: new Date(m * MINUTE_MS).toISOString(),
      proposed: 0,
      confirmed: 0,
      cancelled: 0,
      queueTimeouts: 0,
    });
  }
  for (const { minute, activity: a } of rows) {
    const shown = minutes[minute - first];
    if (!shown) continue;
    const cancelled = Object.values(a.cancelled).reduce((sum, n) => sum + n, 0);
    shown.proposed += a.proposed;
    shown.confirmed += a.confirmed;
    shown.cancelled += cancelled;
    shown.queueTimeouts += a.queueTimeouts;
    total.queueTimeouts += a.queueTimeouts;
    total.handOvers.granted += a.handOvers.granted;
    total.handOvers.refused += a.handOvers.refused;
    for (const [reason, n] of Object.entries(a.cancelled) as Array<[MatchCancelReason, number]>) {
      total.cancelled[reason] = (total.cancelled[reason] ?? 0) + n;
    }
    a.waits.forEach((n, i) => {
      total.waits[i] = (total.waits[i] ?? 0) + n;
    });
  }
  return {
    from: new Date(first * MINUTE_MS).toISOString(),
    to: new Date(nowMinute * MINUTE_MS).toISOString(),
    minutes,
    waits: { leSeconds: [...WAIT_BUCKETS_SECONDS, null], counts: total.waits },
    cancellations: total.cancelled,
    queueTimeouts: total.queueTimeouts,
    handOvers: total.handOvers,
  } satisfies ActivityView;
}

import type { SimUser } from "./users.ts";

/** Percentiles and the per-phase figures derived from what the simulated users recorded. */

export type Dist = { n: number; p50: number; p90: number; p99: number; max: number; mean: number };

/** Nearest-rank percentiles, in ms rounded to 0.01. */
export function dist(values: number[]): Dist | null {
  const v = values.filter((x) => Number.isFinite(x)).sort((a, b) => a - b);
  if (v.length === 0) return null;
  const at = (p: number) => v[Math.min(v.length - 1, Math.max(0, Math.ceil((p / 100) * v.length) - 1))]!;
  const r = (x: number) => Math.round(x * 100) / 100;
  return {
    n: v.length,
    p50: r(at(50)),
    p90: r(at(90)),
    p99: r(at(99)),
    max: r(v[v.length - 1]!),
    mean: r(v.reduce((a, b) => a + b, 0) / v.length),
  };
}

export type PhaseFigures = {
  users: number;
  /** Users that got `queued` (the server ran their join). */
  joined: number;
  /** Users that got `match_found`. */
  matched: number;
  /** Users that got `match_ready`. */
  ready: number;
  errors: number;
  errorKinds: Record<string, number>;
  /** `match_cancelled` frames (a partner left or timed out; the user was requeued). */
  cancelledMatches: number;
  /** Joins started per second by the client (first to last join start). */
  offeredJoinsPerSec: number;
  /** Joins the server completed per second (first join start to last `queued`). */
  servedJoinsPerSec: number;
  /** join start (before the upgrade request) -> `match_found`, on the side whose join made the pair. */
  joinerFromJoin: Dist | null;
  /** The waiting side: its partner's join start -> its own `match_found`. */
  waiterFromPartnerJoin: Dist | null;
  /** Both sides together, each from the join start that made the pair: the headline figure. */
  bothFromJoin: Dist | null;
  /**
   * Every matched user from its OWN join start to its own `match_found` (both sides; for the
   * joiner the same as joinerFromJoin). The burst figure: there everyone joins at once.
   */
  ownFromJoin: Dist | null;
  /** socket `open` (101 received) -> `match_found`, joining side. ~0: the server joins before the 101. */
  joinerFromOpen: Dist | null;
  /** join start -> socket open: the upgrade, which includes the whole server-side join. */
  upgrade: Dist | null;
  /** The later of the two `confirm` sends -> `match_ready`, both sides. */
  confirmToReady: Dist | null;
  /** Raw samples of bothFromJoin, for the chart. */
  samples: number[];
};

export function analyze(users: SimUser[]): PhaseFigures {
  const byMatch = new Map<string, SimUser[]>();
  for (const u of users) {
    if (!u.matchId) continue;
    let pair = byMatch.get(u.matchId);
    if (!pair) {
      pair = [];
      byMatch.set(u.matchId, pair);
    }
    pair.push(u);
  }
  const joinerFromJoin: number[] = [];
  const joinerFromOpen: number[] = [];
  const waiterFromPartnerJoin: number[] = [];
  const confirmToReady: number[] = [];
  for (const pair of byMatch.values()) {
    if (pair.length !== 2) continue;
    const [a, b] = pair as [SimUser, SimUser];
    // The server tells us who completed the pair: that join's `queued` said position 2.
    const joiner =
      a.queuedPosition === 2 && b.queuedPosition !== 2
        ? a
        : b.queuedPosition === 2 && a.queuedPosition !== 2
          ? b
          : a.tJoin >= b.tJoin
            ? a
            : b;
    const waiter = joiner === a ? b : a;
    joinerFromJoin.push(joiner.tFound - joiner.tJoin);
    if (!Number.isNaN(joiner.tOpen)) joinerFromOpen.push(joiner.tFound - joiner.tOpen);
    waiterFromPartnerJoin.push(waiter.tFound - joiner.tJoin);
    const lastConfirm = Math.max(a.tConfirmSent, b.tConfirmSent);
    for (const u of pair) if (u.ready) confirmToReady.push(u.tReady - lastConfirm);
  }
  const errorKinds: Record<string, number> = {};
  let errors = 0;
  for (const u of users) {
    if (u.error === undefined) continue;
    errors++;
    const kind = u.error.replace(/\d{4,}/g, "N").slice(0, 60);
    errorKinds[kind] = (errorKinds[kind] ?? 0) + 1;
  }
  const joins = users.map((u) => u.tJoin).filter((t) => !Number.isNaN(t));
  const queued = users.map((u) => u.tQueued).filter((t) => !Number.isNaN(t));
  const firstJoin = Math.min(...joins);
  const lastJoin = Math.max(...joins);
  const lastQueued = Math.max(...queued);
  const samples = [...joinerFromJoin, ...waiterFromPartnerJoin];
  return {
    users: users.length,
    joined: queued.length,
    matched: users.filter((u) => u.matched).length,
    ready: users.filter((u) => u.ready).length,
    errors,
    errorKinds,
    cancelledMatches: users.reduce((n, u) => n + u.cancelledMatches, 0),
    offeredJoinsPerSec: joins.length > 1 ? round1((joins.length - 1) / ((lastJoin - firstJoin) / 1000)) : 0,
    servedJoinsPerSec: queued.length > 1 ? round1(queued.length / ((lastQueued - firstJoin) / 1000)) : 0,
    joinerFromJoin: dist(joinerFromJoin),
    waiterFromPartnerJoin: dist(waiterFromPartnerJoin),
    bothFromJoin: dist(samples),
    ownFromJoin: dist(users.filter((u) => u.matched).map((u) => u.tFound - u.tJoin)),
    joinerFromOpen: dist(joinerFromOpen),
    upgrade: dist(users.map((u) => u.tOpen - u.tJoin)),
    confirmToReady: dist(confirmToReady),
    samples,
  };
}

function round1(x: number): number {
  return Number.isFinite(x) ? Math.round(x * 10) / 10 : 0;
}

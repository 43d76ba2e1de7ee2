import type { Dist } from "./stats.ts";

/**
 * The incompatible-bucket phase: a bucket holds `waiting` requests that pair with
 * none of each other (all `interviewer`), and each joiner (`interviewee`) fits only the newest of
 * them, so its join must look at every waiting request before it finds its partner at the end.
 * After each pair one more interviewer joins, so every measured join faces `waiting` again.
 *
 * The ratings do the "only the newest": the k-th interviewer is rated k x RATING_SPACING and the
 * joiner exactly as the newest, so every other waiting interviewer is at least RATING_SPACING
 * away. With the default window (100, widening 25 per 10 s of wait) that gap takes over an hour
 * of waiting to close, longer than the longest queue timeout (MATCH_TIMEOUT_SECONDS <= 3600), so
 * no other pair becomes possible while the phase runs. Shared by the core figure and the
 * end-to-end phase, so both measure the same bucket.
 */

export const RATING_SPACING = 10_000;

/** The rating of the k-th interviewer to join (0-based, in join order). */
export function interviewerRating(k: number): number {
  return k * RATING_SPACING;
}

/**
 * The rating of the j-th joiner (0-based) when `waiting` interviewers were there at the start and
 * one more joined after each earlier pair: the newest waiting one is then interviewer
 * `waiting - 1 + j`.
 */
export function joinerRating(j: number, waiting: number): number {
  return interviewerRating(newestInterviewer(j, waiting));
}

/** Which interviewer (join order) the j-th joiner must be paired with: the newest waiting. */
export function newestInterviewer(j: number, waiting: number): number {
  return waiting - 1 + j;
}

/** What the end-to-end phase measured. */
export type IncompatibleJoinResult = {
  /** Interviewers waiting when each joiner joined (the queue it had to scan). */
  waiting: number;
  joiners: number;
  /** Joiners that did not get match_found with exactly the newest interviewer. */
  failed: number;
  errorKinds: Record<string, number>;
  /** Each joiner's join start -> its match_found, over the joiners paired as intended. */
  joinToFound: Dist | null;
  /** Joiners whose `queued` frame put fewer than `waiting` ahead of them (position below waiting + 1). */
  shortQueue: number;
  /** Seconds to open the waiting interviewers, and the whole phase. */
  openSeconds: number;
  wallSeconds: number;
};

/** The phase's figures for the summary line, set against the same run's single pair. */
export type IncompatibleFigures = {
  incompatibleJoinWaiting: number | null;
  incompatibleJoinP50Ms: number | null;
  incompatibleJoinP99Ms: number | null;
  /** incompatible p50 - single pair p50, ms: what scanning the queue adds to a join end to end. */
  incompatibleJoinVsSinglePairMs: number | null;
};

/**
 * The phase counts only when every joiner found the whole queue ahead of it and was paired with
 * its newest: a joiner paired with someone else, or not at all, or facing a shorter queue, means
 * the bucket did not hold what the figure claims, so its latency would describe some other join.
 */
export function incompatibleFigures(
  r: IncompatibleJoinResult | null,
  singlePairP50Ms: number | null,
): IncompatibleFigures {
  const d = r && r.failed === 0 && r.shortQueue === 0 ? r.joinToFound : null;
  const p50 = d?.p50 ?? null;
  return {
    incompatibleJoinWaiting: r?.waiting ?? null,
    incompatibleJoinP50Ms: p50,
    incompatibleJoinP99Ms: d?.p99 ?? null,
    incompatibleJoinVsSinglePairMs:
      p50 === null || singlePairP50Ms === null ? null : Math.round((p50 - singlePairP50Ms) * 100) / 100,
  };
}

import { DurableObject } from "cloudflare:workers";
import { configFromEnv } from "../config.ts";
import type { Env } from "../env.ts";
import {
  type ActivityView,
  activityView,
  addActivity,
  HOUR_MINUTES,
  hasActivity,
  type MinuteActivity,
  noActivity,
} from "./activity.ts";
import { type BucketReport, type Totals, WAIT_BUCKETS_SECONDS, waitBucketOf } from "./figures.ts";
import { renderMetrics } from "./metrics.ts";

const MINUTE = 60_000;
/** Room for a session setup and a late alarm on top of a request's longest life (see below). */
const STALE_MARGIN_MS = 2 * MINUTE;
const HOUR = 3_600_000;

/** One active bucket as `/internal/queues/summary` shows it. */
export type BucketSummary = {
  room: string;
  waiting: number;
  p50WaitMs: number | null;
  p95WaitMs: number | null;
  matchedLastHour: number;
};

export type ServiceFigures = { active: number; waiting: number; matchesLastHour: number };

/**
 * The operators' view of the whole service, fed by the buckets' reports (`FigureReporter`):
 * per bucket the live figures it last reported, matches per minute for the last hour, and
 * totals for `/metrics`. One object for every tenant: each bucket reports at most once a second
 * while it changes, so even thousands of busy buckets are a modest stream, and reading the
 * figures never touches a bucket. Everything is in SQLite, so counters survive restarts and
 * never go backwards (Prometheus reads a reset as a restart, which this is not).
 */
export class Directory extends DurableObject<Env> {
  readonly #sql: SqlStorage;
  #prunedAt = -1;
  /**
   * A bucket with a live request reports again before this long has passed (every request ends
   * within its queue time, confirm window and grace, and its end is reported), so an older row
   * that still says "live" is one whose last report was lost (a restart inside the debounce):
   * it is not counted as active.
   */
  readonly #staleAfterMs: number;

  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env);
    this.#sql = ctx.storage.sql;
    const loaded = configFromEnv(env);
    const c = loaded.ok ? loaded.config : undefined;
    this.#staleAfterMs =
      ((c?.MATCH_TIMEOUT_SECONDS ?? 3600) +
        (c?.CONFIRM_TIMEOUT_SECONDS ?? 600) +
        (c?.RECONNECT_GRACE_SECONDS ?? 600)) *
        1000 +
      STALE_MARGIN_MS;
    this.#sql.exec(`
      CREATE TABLE IF NOT EXISTS buckets (tenant TEXT NOT NULL, room TEXT NOT NULL,
        waiting INTEGER NOT NULL, live INTEGER NOT NULL, p50 INTEGER, p95 INTEGER,
        at INTEGER NOT NULL, PRIMARY KEY (tenant, room)) WITHOUT ROWID;
      CREATE INDEX IF NOT EXISTS buckets_live ON buckets (tenant) WHERE live > 0;
      CREATE TABLE IF NOT EXISTS minutes (tenant TEXT NOT NULL, room TEXT NOT NULL,
        minute INTEGER NOT NULL, matches INTEGER NOT NULL,
        PRIMARY KEY (tenant, room, minute)) WITHOUT ROWID;
      CREATE TABLE IF NOT EXISTS activity (tenant TEXT NOT NULL, minute INTEGER NOT NULL,
        counts TEXT NOT NULL, PRIMARY KEY (tenant, minute)) WITHOUT ROWID;
      CREATE TABLE IF NOT EXISTS counters (name TEXT NOT NULL, labels TEXT NOT NULL,
        value REAL NOT NULL, PRIMARY KEY (name, labels)) WITHOUT ROWID;
    `);
  }

  report(r: BucketReport): void {
    const now = Date.now();
    this.ctx.storage.transactionSync(() => {
      this.#sql.exec(
        `INSERT OR REPLACE INTO buckets (tenant, room, waiting, live, p50, p95, at)
         VALUES (?, ?, ?, ?, ?, ?, ?)`,
        r.tenant,
        r.room,
        r.waiting,
        r.live,
        r.p50WaitMs,
        r.p95WaitMs,
        now,
      );
      const c = r.counts;
      if (c.proposed > 0) {
        this.#sql.exec(
          `INSERT INTO minutes (tenant, room, minute, matches) VALUES (?, ?, ?, ?)
           ON CONFLICT (tenant, room, minute) DO UPDATE SET matches = matches + excluded.matches`,
          r.tenant,
          r.room,
          Math.floor(now / MINUTE),
          c.proposed,
        );
      }
      // One row per tenant and minute, read and rewritten whole: one row written per report.
      if (hasActivity(c)) {
        const minute = Math.floor(now / MINUTE);
        const stored = this.#sql
          .exec<{ counts: string }>(
            "SELECT counts FROM activity WHERE tenant = ? AND minute = ?",
            r.tenant,
            minute,
          )
          .toArray()[0];
        const before = stored ? (JSON.parse(stored.counts) as MinuteActivity) : noActivity();
        this.#sql.exec(
          "INSERT OR REPLACE INTO activity (tenant, minute, counts) VALUES (?, ?, ?)",
          r.tenant,
          minute,
          JSON.stringify(addActivity(before, c)),
        );
      }
      // Minutes older than the hour go once a minute, not on every report.
      const minute = Math.floor(now / MINUTE);
      if (minute !== this.#prunedAt) {
        this.#prunedAt = minute;
        const hourAgo = Math.floor((now - HOUR) / MINUTE);
        this.#sql.exec("DELETE FROM minutes WHERE minute < ?", hourAgo);
        this.#sql.exec("DELETE FROM activity WHERE minute < ?", hourAgo);
      }
      this.#add("joins", {}, c.joins);
      this.#add("matches", { outcome: "proposed" }, c.proposed);
      this.#add("matches", { outcome: "confirmed" }, c.confirmed);
      let cancelled = 0;
      for (const [reason, n] of Object.entries(c.cancelled)) {
        this.#add("cancellations", { reason }, n);
        cancelled += n;
      }
      this.#add("matches", { outcome: "cancelled" }, cancelled);
      this.#add("queue_timeouts", {}, c.queueTimeouts);
      // Reports from buckets running the version before flexible requests carry none.
      this.#add("handovers", { result: "granted" }, c.handOvers?.granted ?? 0);
      this.#add("handovers", { result: "refused" }, c.handOvers?.refused ?? 0);
      // One upsert per histogram bucket touched, not one per wait: a burst's report has many.
      const perBucket = new Map<number, number>();
      for (const ms of c.waitsMs) {
        const i = waitBucketOf(ms / 1000);
        perBucket.set(i, (perBucket.get(i) ?? 0) + 1);
      }
      for (const [i, n] of perBucket) this.#add("wait_bucket", { i: String(i) }, n);
      this.#add("wait_sum", {}, c.waitsMs.reduce((sum, ms) => sum + ms, 0) / 1000);
    });
  }

  /** `/status`: active buckets (with a live request), requests waiting, matches in the last hour. */
  figures(): ServiceFigures {
    const live = this.#sql
      .exec<{ active: number; waiting: number }>(
        "SELECT count(*) AS active, coalesce(sum(waiting), 0) AS waiting FROM buckets WHERE live > 0 AND at > ?",
        Date.now() - this.#staleAfterMs,
      )
      .one();
    const matches = this.#sql
      .exec<{ n: number }>(
        "SELECT coalesce(sum(matches), 0) AS n FROM minutes WHERE minute > ?",
        Math.floor((Date.now() - HOUR) / MINUTE),
      )
      .one().n;
    return { active: live.active, waiting: live.waiting, matchesLastHour: matches };
  }

  /** `/internal/queues/summary`: the tenant's active buckets, busiest first. */
  summary(tenant: string): BucketSummary[] {
    const since = Math.floor((Date.now() - HOUR) / MINUTE);
    return this.#sql
      .exec<{ room: string; waiting: number; p50: number | null; p95: number | null; matched: number }>(
        `SELECT b.room, b.waiting, b.p50, b.p95,
           (SELECT coalesce(sum(m.matches), 0) FROM minutes m
             WHERE m.tenant = b.tenant AND m.room = b.room AND m.minute > ?) AS matched
         FROM buckets b WHERE b.tenant = ? AND b.live > 0 AND b.at > ? ORDER BY b.waiting DESC, b.room`,
        since,
        tenant,
        Date.now() - this.#staleAfterMs,
      )
      .toArray()
      .map((b) => ({
        room: b.room,
        waiting: b.waiting,
        p50WaitMs: b.p50,
        p95WaitMs: b.p95,
        matchedLastHour: b.matched,
      }));
  }

  /** `/internal/activity`: the tenant's last hour, minute by minute, for the dashboard's charts. */
  activity(tenant: string): ActivityView {
    const now = Math.floor(Date.now() / MINUTE);
    const rows = this.#sql
      .exec<{ minute: number; counts: string }>(
        "SELECT minute, counts FROM activity WHERE tenant = ? AND minute > ?",
        tenant,
        now - HOUR_MINUTES,
      )
      .toArray()
      .map((row) => ({ minute: row.minute, activity: JSON.parse(row.counts) as MinuteActivity }));
    return activityView(rows, now);
  }

  /** `/metrics`, in Prometheus text format. */
  async metrics(): Promise<string> {
    const counters = this.#sql
      .exec<{ name: string; labels: string; value: number }>("SELECT name, labels, value FROM counters")
      .toArray()
      .map((c) => ({ name: c.name, labels: JSON.parse(c.labels) as Record<string, string>, value: c.value }));
    const waitBuckets = WAIT_BUCKETS_SECONDS.map(() => 0).concat(0);
    let waitSum = 0;
    const rest: Totals["counters"] = [];
    for (const c of counters) {
      if (c.name === "wait_bucket") waitBuckets[Number(c.labels.i)] = c.value;
      else if (c.name === "wait_sum") waitSum = c.value;
      else rest.push(c);
    }
    const live = this.figures();
    return renderMetrics({
      counters: rest,
      waiting: live.waiting,
      activeBuckets: live.active,
      waitBuckets,
      waitSum,
    });
  }

  #add(name: string, labels: Record<string, string>, by: number): void {
    if (by === 0) return;
    this.#sql.exec(
      `INSERT INTO counters (name, labels, value) VALUES (?, ?, ?)
       ON CONFLICT (name, labels) DO UPDATE SET value = value + excluded.value`,
      name,
      JSON.stringify(labels),
      by,
    );
  }
}

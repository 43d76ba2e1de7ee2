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
/** The storage layout this code writes; an object with an older one upgrades itself on wake. */
const SCHEMA_VERSION = 2;
/**
 * Where totals reported before the per-bucket layout live: a row no real bucket can have
 * (rooms are `difficulty.topic`), never live, never listed, counted by `/metrics` only.
 */
const CARRIED_ROOM = "~totals before v2";

/** A counter's key in a bucket's `counts`: its name and labels. */
type CounterKey = string;
const counterKey = (name: string, labels: Record<string, string>): CounterKey =>
  JSON.stringify([name, labels]);

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
 * per bucket the live figures it last reported, its matches per minute for the last hour, and
 * its totals for `/metrics`. One object for every tenant: each bucket reports at most once a
 * second while it changes, so even thousands of busy buckets are a modest stream, and reading
 * the figures never touches a bucket. A report is one row written, the bucket's own: its
 * minutes and counters are JSON in that row (storage bills each row written; reads, which sum
 * over the rows, are only for `/status`, `/metrics` and the summary). Everything is in SQLite,
 * so counters survive restarts and never go backwards (Prometheus reads a reset as a restart,
 * which this is not).
 */
export class Directory extends DurableObject<Env> {
  readonly #sql: SqlStorage;
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
    ctx.storage.transactionSync(() => this.#upgrade());
  }

  /** Bring the storage to SCHEMA_VERSION: create it, or convert what an older version wrote. */
  #upgrade(): void {
    this.#sql.exec(
      "CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value INTEGER NOT NULL) WITHOUT ROWID",
    );
    const stored = this.#sql
      .exec<{ value: number }>("SELECT value FROM meta WHERE key = 'schema'")
      .toArray()[0]?.value;
    if (stored === SCHEMA_VERSION) return;
    const hasBuckets =
      this.#sql.exec("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'buckets'").toArray()
        .length > 0;
    if (!hasBuckets) {
      this.#sql.exec(`
        CREATE TABLE buckets (tenant TEXT NOT NULL, room TEXT NOT NULL,
          waiting INTEGER NOT NULL, live INTEGER NOT NULL, p50 INTEGER, p95 INTEGER,
          at INTEGER NOT NULL, minutes TEXT, counts TEXT, activity TEXT,
          PRIMARY KEY (tenant, room)) WITHOUT ROWID;
      `);
    } else {
      // Version 1: a row per bucket without minutes or counts, a `minutes` row per bucket and
      // minute, a `counters` row per counter, and an index of live buckets.
      this.#sql.exec(`
        ALTER TABLE buckets ADD COLUMN minutes TEXT;
        ALTER TABLE buckets ADD COLUMN counts TEXT;
        ALTER TABLE buckets ADD COLUMN activity TEXT;
        DROP INDEX IF EXISTS buckets_live;
      `);
      const since = Math.floor((Date.now() - HOUR) / MINUTE);
      const perBucket = new Map<string, { tenant: string; room: string; minutes: Record<string, number> }>();
      for (const m of this.#sql
        .exec<{ tenant: string; room: string; minute: number; matches: number }>(
          "SELECT tenant, room, minute, matches FROM minutes WHERE minute > ?",
          since,
        )
        .toArray()) {
        const key = JSON.stringify([m.tenant, m.room]);
        const entry = perBucket.get(key) ?? { tenant: m.tenant, room: m.room, minutes: {} };
        entry.minutes[String(m.minute)] = m.matches;
        perBucket.set(key, entry);
      }
      for (const b of perBucket.values())
        this.#sql.exec(
          "UPDATE buckets SET minutes = ? WHERE tenant = ? AND room = ?",
          JSON.stringify(b.minutes),
          b.tenant,
          b.room,
        );
      const carried: Record<CounterKey, number> = {};
      for (const row of this.#sql
        .exec<{ name: string; labels: string; value: number }>("SELECT name, labels, value FROM counters")
        .toArray())
        carried[counterKey(row.name, JSON.parse(row.labels) as Record<string, string>)] = row.value;
      this.#sql.exec(
        "INSERT INTO buckets (tenant, room, waiting, live, at, counts) VALUES ('', ?, 0, 0, 0, ?)",
        CARRIED_ROOM,
        JSON.stringify(carried),
      );
      this.#sql.exec("DROP TABLE minutes; DROP TABLE counters;");
    }
    this.#sql.exec("INSERT OR REPLACE INTO meta (key, value) VALUES ('schema', ?)", SCHEMA_VERSION);
  }

  report(r: BucketReport): void {
    const now = Date.now();
    const minute = Math.floor(now / MINUTE);
    const row = this.#sql
      .exec<{ minutes: string | null; counts: string | null; activity: string | null }>(
        "SELECT minutes, counts, activity FROM buckets WHERE tenant = ? AND room = ?",
        r.tenant,
        r.room,
      )
      .toArray()[0];
    // Minutes older than the hour go as the row is written again.
    const minutes: Record<string, number> = {};
    for (const [m, n] of Object.entries(parsed(row?.minutes))) if (Number(m) > minute - 60) minutes[m] = n;
    const c = r.counts;
    if (c.proposed > 0) minutes[String(minute)] = (minutes[String(minute)] ?? 0) + c.proposed;
    // The dashboard's minutes, in the same row: a busy minute costs no row of its own.
    const activity: Record<string, MinuteActivity> = {};
    for (const [m, a] of Object.entries(parsedActivity(row?.activity)))
      if (Number(m) > minute - HOUR_MINUTES) activity[m] = a;
    if (hasActivity(c)) activity[String(minute)] = addActivity(activity[String(minute)] ?? noActivity(), c);
    const counts = parsed(row?.counts);
    const add = (name: string, labels: Record<string, string>, by: number) => {
      if (by === 0) return;
      const key = counterKey(name, labels);
      counts[key] = (counts[key] ?? 0) + by;
    };
    add("joins", {}, c.joins);
    add("matches", { outcome: "proposed" }, c.proposed);
    add("matches", { outcome: "confirmed" }, c.confirmed);
    let cancelled = 0;
    for (const [reason, n] of Object.entries(c.cancelled)) {
      add("cancellations", { reason }, n);
      cancelled += n;
    }
    add("matches", { outcome: "cancelled" }, cancelled);
    add("queue_timeouts", {}, c.queueTimeouts);
    // Reports from buckets running the version before flexible requests carry none.
    add("handovers", { result: "granted" }, c.handOvers?.granted ?? 0);
    add("handovers", { result: "refused" }, c.handOvers?.refused ?? 0);
    for (const ms of c.waitsMs) add("wait_bucket", { i: String(waitBucketOf(ms / 1000)) }, 1);
    add("wait_sum", {}, c.waitsMs.reduce((sum, ms) => sum + ms, 0) / 1000);
    this.#sql.exec(
      `INSERT INTO buckets (tenant, room, waiting, live, p50, p95, at, minutes, counts, activity)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
       ON CONFLICT (tenant, room) DO UPDATE SET waiting = excluded.waiting, live = excluded.live,
         p50 = excluded.p50, p95 = excluded.p95, at = excluded.at, minutes = excluded.minutes,
         counts = excluded.counts, activity = excluded.activity`,
      r.tenant,
      r.room,
      r.waiting,
      r.live,
      r.p50WaitMs,
      r.p95WaitMs,
      now,
      JSON.stringify(minutes),
      JSON.stringify(counts),
      JSON.stringify(activity),
    );
  }

  /** `/status`: active buckets (with a live request), requests waiting, matches in the last hour. */
  figures(): ServiceFigures {
    const now = Date.now();
    const live = this.#sql
      .exec<{ active: number; waiting: number }>(
        "SELECT count(*) AS active, coalesce(sum(waiting), 0) AS waiting FROM buckets WHERE live > 0 AND at > ?",
        now - this.#staleAfterMs,
      )
      .one();
    let matches = 0;
    for (const b of this.#sql
      .exec<{ minutes: string | null }>("SELECT minutes FROM buckets WHERE at > ?", now - HOUR)
      .toArray())
      matches += matchedSince(b.minutes, Math.floor((now - HOUR) / MINUTE));
    return { active: live.active, waiting: live.waiting, matchesLastHour: matches };
  }

  /** `/internal/queues/summary`: the tenant's active buckets, busiest first. */
  summary(tenant: string): BucketSummary[] {
    const since = Math.floor((Date.now() - HOUR) / MINUTE);
    return this.#sql
      .exec<{
        room: string;
        waiting: number;
        p50: number | null;
        p95: number | null;
        minutes: string | null;
      }>(
        `SELECT room, waiting, p50, p95, minutes FROM buckets
         WHERE tenant = ? AND live > 0 AND at > ? ORDER BY waiting DESC, room`,
        tenant,
        Date.now() - this.#staleAfterMs,
      )
      .toArray()
      .map((b) => ({
        room: b.room,
        waiting: b.waiting,
        p50WaitMs: b.p50,
        p95WaitMs: b.p95,
        matchedLastHour: matchedSince(b.minutes, since),
      }));
  }

  /** `/internal/activity`: the tenant's last hour, minute by minute, for the dashboard's charts. */
  activity(tenant: string): ActivityView {
    const now = Math.floor(Date.now() / MINUTE);
    const rows: Array<{ minute: number; activity: MinuteActivity }> = [];
    for (const b of this.#sql
      .exec<{ activity: string | null }>(
        "SELECT activity FROM buckets WHERE tenant = ? AND at > ?",
        tenant,
        Date.now() - HOUR,
      )
      .toArray())
      for (const [m, activity] of Object.entries(parsedActivity(b.activity)))
        if (Number(m) > now - HOUR_MINUTES) rows.push({ minute: Number(m), activity });
    return activityView(rows, now);
  }

  /** `/metrics`, in Prometheus text format. */
  async metrics(): Promise<string> {
    const totals = new Map<CounterKey, number>();
    for (const b of this.#sql.exec<{ counts: string | null }>("SELECT counts FROM buckets").toArray())
      for (const [key, n] of Object.entries(parsed(b.counts))) totals.set(key, (totals.get(key) ?? 0) + n);
    const waitBuckets = WAIT_BUCKETS_SECONDS.map(() => 0).concat(0);
    let waitSum = 0;
    const rest: Totals["counters"] = [];
    for (const [key, value] of totals) {
      const [name, labels] = JSON.parse(key) as [string, Record<string, string>];
      if (name === "wait_bucket") waitBuckets[Number(labels.i)] = value;
      else if (name === "wait_sum") waitSum = value;
      else rest.push({ name, labels, value });
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
}

function parsedActivity(json: string | null | undefined): Record<string, MinuteActivity> {
  return json ? (JSON.parse(json) as Record<string, MinuteActivity>) : {};
}

function parsed(json: string | null | undefined): Record<string, number> {
  return json ? (JSON.parse(json) as Record<string, number>) : {};
}

/** Matches in the minutes after `since` (a minute number) of a bucket's `minutes`. */
function matchedSince(json: string | null, since: number): number {
  let n = 0;
  for (const [m, matches] of Object.entries(parsed(json))) if (Number(m) > since) n += matches;
  return n;
}

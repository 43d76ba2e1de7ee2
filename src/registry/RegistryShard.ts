import { DurableObject } from "cloudflare:workers";
import { bucketActor, claimHolder, holdsAsBucket, legacyRegistry } from "../actors.ts";
import { configFromEnv } from "../config.ts";
import type { Env } from "../env.ts";
import { JoinRate } from "../matching/joinRate.ts";
import { DEFAULT_TENANT, splitTenant } from "../tenancy.ts";
import { type Acquaintances, type ClaimResult, claimNeeds, type HeldClaim } from "./claimRule.ts";

/** One claim or release in a bucket's batch: the user and the request it is about. */
export type RequestRef = { userId: string; requestId: string };
/** A release also carries the partners the request met (user id -> when that match ended). */
export type Release = RequestRef & { recent?: Record<string, number> };

/** One of the user's blocks, as `GET /me/blocks` shows it. */
export type BlockEntry = { userId: string; since: string };

/**
 * Routing notes for ended requests are kept longer than a request can live (queue <= 1 h,
 * confirm and grace <= 10 min each) plus the hour its bucket keeps it after it ends.
 */
const RECENT_RETENTION_MS = 3 * 3_600_000;
const SWEEP_EVERY_MS = 3_600_000;
/**
 * The storage layout this code writes (`meta.schema`). Version 1 kept a `partners` row per user
 * and partner, written at a match's release and deleted at the sweep; now the partners ride in
 * the release's own routing note (`recent.partners`), which is written anyway.
 */
const SCHEMA_VERSION = 2;

/**
 * One of a fixed set of long-lived objects (REGISTRY_SHARDS, users spread by `shardOf`) that
 * keep each user's one live request across all buckets: which bucket claimed it, with which
 * request id. Buckets claim before creating a request and release when it ends, in batches.
 * The buckets stay the source of truth: a claim contested by another bucket is checked with
 * the bucket that holds it, so a lost release or an evicted bucket never locks a user out.
 */
export class RegistryShard extends DurableObject<Env> {
  readonly #sql: SqlStorage;
  /** Until when a miss here is also looked up in the user's old per-user object (upgrades). */
  readonly #legacyUntil: number;
  #sweepBooked = false;
  /** New requests per user: a user hopping between buckets is counted here, whichever bucket. */
  readonly #rate = new JoinRate();
  readonly #cooldownMs: number;
  /** The latest push of each user's block list to their live request's bucket, in order. */
  readonly #pushes = new Map<string, Promise<boolean>>();
  /** Users of this shard whose own channel is open: the table, in memory, so a claim reads no more rows. */
  readonly #watched: Set<string>;
  /** `MAINTENANCE` as deployed; the runtime switch (`PUT /internal/maintenance`) is in `meta`. */
  readonly #deployMaintenance: boolean;
  /** Partners written by version 1, still read until the sweep has let the last of them go. */
  #oldPartners: boolean;

  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env);
    this.#sql = ctx.storage.sql;
    const loaded = configFromEnv(env);
    // Only the default tenant's users can have per-user objects from before (no tenants then).
    const tenant = splitTenant(ctx.id.name ?? "").tenant;
    this.#legacyUntil = loaded.ok && tenant === DEFAULT_TENANT ? loaded.config.LEGACY_REGISTRY_UNTIL : 0;
    this.#deployMaintenance = loaded.ok && loaded.config.MAINTENANCE;
    this.#cooldownMs = loaded.ok ? loaded.config.REMATCH_COOLDOWN_SECONDS * 1000 : 0;
    // `claims` holds only live (or not yet released) claims; `recent` routes ended requests by
    // id and keeps the partners each met (for the cooldown). Both are keyed by user first: every
    // lookup is one user's.
    this.#oldPartners = ctx.storage.transactionSync(() => this.#upgrade());
    this.#watched = new Set(
      this.#sql
        .exec<{ user_id: string }>("SELECT user_id FROM watched")
        .toArray()
        .map((r) => r.user_id),
    );
    ctx.blockConcurrencyWhile(async () => {
      this.#sweepBooked = (await ctx.storage.getAlarm()) !== null;
    });
  }

  /** Bring the storage to SCHEMA_VERSION; true while version 1's `partners` table is left. */
  #upgrade(): boolean {
    const existed =
      this.#sql.exec("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'recent'").toArray()
        .length > 0;
    this.#sql.exec(`
      CREATE TABLE IF NOT EXISTS claims (user_id TEXT PRIMARY KEY, room TEXT NOT NULL,
        request_id TEXT NOT NULL, at INTEGER NOT NULL) WITHOUT ROWID;
      CREATE TABLE IF NOT EXISTS recent (user_id TEXT NOT NULL, request_id TEXT NOT NULL,
        room TEXT NOT NULL, at INTEGER NOT NULL, partners TEXT,
        PRIMARY KEY (user_id, request_id)) WITHOUT ROWID;
      -- The user's blocks (kept until lifted): what a granted claim hands to the bucket with
      -- the recent partners, so pairing needs no database on the join path.
      CREATE TABLE IF NOT EXISTS blocks (user_id TEXT NOT NULL, blocked_id TEXT NOT NULL,
        since INTEGER NOT NULL, PRIMARY KEY (user_id, blocked_id)) WITHOUT ROWID;
      CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value INTEGER NOT NULL);
      -- Users whose own channel is open (/parties/user/{userId}): their bucket sends them
      -- request_update. Only these rows cost anything; everyone else's join is as before.
      CREATE TABLE IF NOT EXISTS watched (user_id TEXT PRIMARY KEY) WITHOUT ROWID;
    `);
    const version = this.#sql
      .exec<{ value: number }>("SELECT value FROM meta WHERE key = 'schema'")
      .toArray()[0]?.value;
    if (existed && version === undefined) {
      this.#sql.exec("ALTER TABLE recent ADD COLUMN partners TEXT");
      this.#sql.exec("INSERT OR REPLACE INTO meta (key, value) VALUES ('schema', ?)", SCHEMA_VERSION);
    } else if (version === undefined) {
      this.#sql.exec("INSERT INTO meta (key, value) VALUES ('schema', ?)", SCHEMA_VERSION);
    }
    return (
      this.#sql.exec("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'partners'").toArray()
        .length > 0
    );
  }

  /**
   * A bucket's batch: its requests that ended, then the users it wants to create a request for.
   * Releases go first, so a user who left and came back in one batch is free again. Answers
   * the claims in order.
   */
  async sync(room: string, claims: RequestRef[], releases: Release[]): Promise<ClaimResult[]> {
    const now = Date.now();
    for (const r of releases) this.#release(room, r, now);
    // Each claim answers for itself: one that cannot be decided (its holder or, while upgrading,
    // the old object did not answer) fails alone, not the batch.
    return Promise.all(
      claims.map((c) =>
        this.#claim(room, c, now).catch((): ClaimResult => ({ ok: false, reason: "unavailable" })),
      ),
    );
  }

  /**
   * The room of the user's live request, verified with its bucket. A claim held for a
   * challenge's match is no request: null then (see `standing`).
   */
  async liveRoom(userId: string): Promise<string | null> {
    const held = await this.#held(userId);
    if (!held || !holdsAsBucket(held.room)) return null;
    // A holder that cannot answer keeps its claim here: better no answer than a wrong one.
    return (await this.#stillLive(userId, held).catch(() => true)) ? held.room : null;
  }

  /**
   * The room of one of the user's requests, live or ended in the last hours. A challenge's match
   * holds claims too, under request ids of its own, but has no request to show: null for those.
   */
  async roomOfRequest(userId: string, requestId: string): Promise<string | null> {
    const row =
      this.#sql
        .exec<{ room: string }>(
          "SELECT room FROM claims WHERE user_id = ? AND request_id = ? UNION ALL SELECT room FROM recent WHERE user_id = ? AND request_id = ?",
          userId,
          requestId,
          userId,
          requestId,
        )
        .toArray()[0]?.room ?? null;
    if (row !== null) return holdsAsBucket(row) ? row : null;
    if (!this.#legacyActive()) return null;
    return legacyRegistry(this.env, userId).roomOfRequest(requestId);
  }

  /**
   * What a new challenge must know of the user: whom they blocked, and whether they are engaged
   * (a live request, or a challenge's match being set up), verified with the holder; and whether
   * the tenant is paused for maintenance.
   */
  async standing(userId: string): Promise<{ blocked: string[]; engaged: boolean; paused: boolean }> {
    const held = await this.#held(userId);
    const engaged = held !== null && (await this.#stillLive(userId, held).catch(() => true));
    return { blocked: this.#blockedBy(userId), engaged, paused: this.maintenance().on };
  }

  /**
   * The user's channel opened (first tab) or closed (last tab). The bucket of their live request
   * hears it the ordered way block changes go, and later claims carry it.
   */
  async setWatched(userId: string, on: boolean): Promise<{ applied: boolean }> {
    if (on && !this.#watched.has(userId)) {
      this.#sql.exec("INSERT INTO watched (user_id) VALUES (?) ON CONFLICT DO NOTHING", userId);
      this.#watched.add(userId);
    } else if (!on && this.#watched.delete(userId)) {
      this.#sql.exec("DELETE FROM watched WHERE user_id = ?", userId);
    }
    return {
      applied: await this.#pushInOrder(userId, (room) =>
        bucketActor(this.env, room).setWatched(userId, this.#isWatched(userId)),
      ),
    };
  }

  /** Rooms of the user's recent requests, newest first (to find a match that already ended). */
  async recentRooms(userId: string): Promise<string[]> {
    const rooms = this.#sql
      .exec<{ room: string }>(
        // Buckets only: a challenge's owner holds no requests to look a match up in.
        // The claim counts too: its request may have ended with the release still on its way.
        `SELECT room FROM (SELECT room, at FROM claims WHERE user_id = ?
           UNION ALL SELECT room, at FROM recent WHERE user_id = ?)
         GROUP BY room ORDER BY max(at) DESC LIMIT 5`,
        userId,
        userId,
      )
      .toArray()
      .map((r) => r.room)
      .filter(holdsAsBucket);
    if (rooms.length > 0 || !this.#legacyActive()) return rooms;
    return legacyRegistry(this.env, userId).recentRooms();
  }

  /**
   * `PUT` / `DELETE /me/blocks/{blockedId}`. Durable here first; then the user's live request,
   * if any, follows at once (a block also applies to requests already waiting). Its bucket is
   * told the whole list, so a retried or reordered call cannot leave it with a stale one.
   */
  async setBlock(userId: string, blockedId: string, on: boolean): Promise<{ applied: boolean }> {
    if (on) {
      this.#sql.exec(
        "INSERT INTO blocks (user_id, blocked_id, since) VALUES (?, ?, ?) ON CONFLICT DO NOTHING",
        userId,
        blockedId,
        Date.now(),
      );
    } else {
      this.#sql.exec("DELETE FROM blocks WHERE user_id = ? AND blocked_id = ?", userId, blockedId);
    }
    return {
      applied: await this.#pushInOrder(userId, (room) =>
        bucketActor(this.env, room).setBlocked(userId, this.#blockedBy(userId)),
      ),
    };
  }

  /**
   * Tell the bucket holding the user's live request what changed. One push at a time per user,
   * each reading the state when it goes: two changes made at once cannot reach the bucket in the
   * wrong order and leave it with the older one. A challenge's match needs no push (blocks never
   * break a match, and its owner sends no request updates). False if the bucket did not answer.
   */
  async #pushInOrder(userId: string, send: (room: string) => Promise<unknown>): Promise<boolean> {
    const previous = this.#pushes.get(userId) ?? Promise.resolve(true);
    const push = previous.then(async () => {
      const held = this.#current(userId);
      if (!held || !holdsAsBucket(held.room)) return true;
      try {
        await send(held.room);
        return true;
      } catch {
        return false;
      }
    });
    this.#pushes.set(userId, push);
    const applied = await push;
    if (this.#pushes.get(userId) === push) this.#pushes.delete(userId);
    return applied;
  }

  /**
   * Maintenance for this tenant: as switched at runtime (`PUT /internal/maintenance`, stored
   * here as the time it was switched, negative for off), else as deployed (`MAINTENANCE`).
   */
  maintenance(): { on: boolean; since: string | null } {
    const row = this.#sql
      .exec<{ value: number }>("SELECT value FROM meta WHERE key = 'maintenance'")
      .toArray()[0];
    if (!row) return { on: this.#deployMaintenance, since: null };
    return { on: row.value > 0, since: new Date(Math.abs(row.value)).toISOString() };
  }

  /** Switch maintenance at runtime; the router sets every shard of the tenant. */
  setMaintenance(on: boolean): void {
    const row = this.#sql
      .exec<{ value: number }>("SELECT value FROM meta WHERE key = 'maintenance'")
      .toArray()[0];
    // Already so: keep when it was switched.
    if (row && row.value > 0 === on) return;
    this.#sql.exec(
      "INSERT OR REPLACE INTO meta (key, value) VALUES ('maintenance', ?)",
      on ? Date.now() : -Date.now(),
    );
  }

  /** `GET /me/blocks`, oldest first. */
  blocks(userId: string): BlockEntry[] {
    return this.#sql
      .exec<{ blocked_id: string; since: number }>(
        "SELECT blocked_id, since FROM blocks WHERE user_id = ? ORDER BY since, blocked_id",
        userId,
      )
      .toArray()
      .map((r) => ({ userId: r.blocked_id, since: new Date(r.since).toISOString() }));
  }

  override async alarm(): Promise<void> {
    const now = Date.now();
    // A note that carries partners stays for the cooldown too, however long that is.
    this.#sql.exec(
      "DELETE FROM recent WHERE at < ? AND (partners IS NULL OR at < ?)",
      now - RECENT_RETENTION_MS,
      now - this.#cooldownMs,
    );
    if (this.#oldPartners) {
      this.#sql.exec("DELETE FROM partners WHERE at < ?", now - this.#cooldownMs);
      if (this.#sql.exec<{ n: number }>("SELECT count(*) AS n FROM partners").one().n === 0) {
        this.#sql.exec("DROP TABLE partners");
        this.#oldPartners = false;
      }
    }
    const left =
      this.#sql.exec<{ n: number }>("SELECT count(*) AS n FROM recent").one().n + (this.#oldPartners ? 1 : 0);
    this.#sweepBooked = left > 0;
    if (left > 0) await this.ctx.storage.setAlarm(Date.now() + SWEEP_EVERY_MS);
  }

  /**
   * Grant the claim unless another bucket holds a live request of the user. The common case is
   * one statement: no claim yet, so the insert goes through. Otherwise the holder is asked, and
   * since other claims of the same user may run while we wait for it, the decision is taken
   * again on what the row says afterwards, until the row did not move under us.
   */
  async #claim(room: string, c: RequestRef, now: number): Promise<ClaimResult> {
    // Every new request of the tenant's users is claimed here, so this is where maintenance
    // turns new requests away (resumes and live matches need no claim, so they go on). A user
    // who waits elsewhere still hears that first (409), as at any other time.
    const paused = this.maintenance().on;
    if (!paused && !this.#rate.allow(c.userId, now)) return { ok: false, reason: "rate_limited" };
    // While upgrading, the old per-user object may hold a live claim: no shortcut then.
    if (
      !paused &&
      !this.#legacyActive() &&
      this.#writeClaim(c.userId, { room, requestId: c.requestId }, now, "if-none")
    ) {
      return { ok: true, ...this.#acquaintances(c.userId, now) };
    }
    for (;;) {
      const held = await this.#held(c.userId);
      if (held && claimNeeds(held, room) === "verify" && (await this.#stillLive(c.userId, held))) {
        return { ok: false, reason: "live_elsewhere", room: held.room };
      }
      if (paused) return { ok: false, reason: "maintenance" };
      // Synchronous from this read to the write: nothing else can change the row in between.
      if (!sameClaim(this.#current(c.userId), held)) continue;
      if (held) this.#noteEnded(c.userId, held, now);
      this.#writeClaim(c.userId, { room, requestId: c.requestId }, now, "replace");
      return { ok: true, ...this.#acquaintances(c.userId, now) };
    }
  }

  /** The release goes only if the claim is still that request's: a late one frees nothing newer. */
  #release(room: string, r: Release, now: number): void {
    const partners: Record<string, number> = {};
    for (const [partnerId, at] of Object.entries(r.recent ?? {}))
      if (at + this.#cooldownMs > now) partners[partnerId] = at;
    const gone = this.#sql
      .exec(
        "DELETE FROM claims WHERE user_id = ? AND request_id = ? AND room = ? RETURNING 1",
        r.userId,
        r.requestId,
        room,
      )
      .toArray();
    // Partners are kept whether or not the claim is still this request's: they are facts. Its
    // note was written when a newer claim took its place, if not here.
    if (gone.length > 0 || Object.keys(partners).length > 0)
      this.#noteEnded(r.userId, { room, requestId: r.requestId }, now, partners);
  }

  /**
   * Keep routing an ended request by id for a while (`GET /request/{id}`, `POST /confirm`), with
   * the partners it met (added to any the note has already).
   */
  #noteEnded(userId: string, claim: HeldClaim, now: number, partners: Record<string, number> = {}): void {
    let merged: Record<string, number> | null = null;
    if (Object.keys(partners).length > 0) {
      const row = this.#sql
        .exec<{ partners: string | null }>(
          "SELECT partners FROM recent WHERE user_id = ? AND request_id = ?",
          userId,
          claim.requestId,
        )
        .toArray()[0];
      merged = row?.partners ? (JSON.parse(row.partners) as Record<string, number>) : {};
      for (const [partnerId, at] of Object.entries(partners))
        merged[partnerId] = Math.max(at, merged[partnerId] ?? at);
    }
    this.#sql.exec(
      `INSERT INTO recent (user_id, request_id, room, at, partners) VALUES (?, ?, ?, ?, ?)
       ON CONFLICT (user_id, request_id) DO UPDATE SET room = excluded.room, at = excluded.at,
         partners = coalesce(excluded.partners, partners)`,
      userId,
      claim.requestId,
      claim.room,
      now,
      merged === null ? null : JSON.stringify(merged),
    );
    this.#bookSweep(now);
  }

  #bookSweep(now: number): void {
    if (this.#sweepBooked) return;
    this.#sweepBooked = true;
    void this.ctx.storage.setAlarm(now + SWEEP_EVERY_MS);
  }

  #blockedBy(userId: string): string[] {
    return this.#sql
      .exec<{ blocked_id: string }>("SELECT blocked_id FROM blocks WHERE user_id = ?", userId)
      .toArray()
      .map((r) => r.blocked_id);
  }

  #acquaintances(userId: string, now: number): Acquaintances {
    const recent: Record<string, number> = {};
    const since = now - this.#cooldownMs;
    const met = (partnerId: string, at: number) => {
      if (at > since && at > (recent[partnerId] ?? 0)) recent[partnerId] = at;
    };
    for (const row of this.#sql
      .exec<{ partners: string }>(
        "SELECT partners FROM recent WHERE user_id = ? AND partners IS NOT NULL AND at > ?",
        userId,
        since,
      )
      .toArray())
      for (const [partnerId, at] of Object.entries(JSON.parse(row.partners) as Record<string, number>))
        met(partnerId, at);
    if (this.#oldPartners)
      for (const row of this.#sql
        .exec<{ partner_id: string; at: number }>(
          "SELECT partner_id, at FROM partners WHERE user_id = ? AND at > ?",
          userId,
          since,
        )
        .toArray())
        met(row.partner_id, row.at);
    return { blocked: this.#blockedBy(userId), recent, watched: this.#isWatched(userId) };
  }

  #isWatched(userId: string): boolean {
    return this.#watched.has(userId);
  }

  /** Write the user's claim; with "if-none", only when they hold none (true if it was written). */
  #writeClaim(userId: string, claim: HeldClaim, now: number, mode: "if-none" | "replace"): boolean {
    const written = this.#sql.exec(
      mode === "if-none"
        ? "INSERT INTO claims (user_id, room, request_id, at) VALUES (?, ?, ?, ?) ON CONFLICT (user_id) DO NOTHING RETURNING 1"
        : "INSERT OR REPLACE INTO claims (user_id, room, request_id, at) VALUES (?, ?, ?, ?) RETURNING 1",
      userId,
      claim.room,
      claim.requestId,
      now,
    );
    return written.toArray().length > 0;
  }

  #current(userId: string): HeldClaim | null {
    const row = this.#sql
      .exec<{ room: string; request_id: string }>(
        "SELECT room, request_id FROM claims WHERE user_id = ?",
        userId,
      )
      .toArray()[0];
    return row ? { room: row.room, requestId: row.request_id } : null;
  }

  /** The user's claim here; while upgrading, one still held by their old object is taken over. */
  async #held(userId: string): Promise<HeldClaim | null> {
    const here = this.#current(userId);
    if (here || !this.#legacyActive()) return here;
    const old = await legacyRegistry(this.env, userId).currentClaim();
    const now = this.#current(userId);
    if (now || !old) return now;
    this.#writeClaim(userId, old, Date.now(), "replace");
    return old;
  }

  #legacyActive(): boolean {
    return this.#legacyUntil > Date.now();
  }

  /**
   * Ask the holding bucket. If it cannot answer this throws, and the claim is answered
   * "unavailable" (try again) rather than granted: a second live request is not recoverable.
   */
  async #stillLive(userId: string, claim: HeldClaim): Promise<boolean> {
    return claimHolder(this.env, claim.room).holdsLiveRequest(userId);
  }
}

function sameClaim(a: HeldClaim | null, b: HeldClaim | null): boolean {
  return a === b || (a !== null && b !== null && a.room === b.room && a.requestId === b.requestId);
}

import { DurableObject } from "cloudflare:workers";
import { bucketActor } from "../actors.ts";
import type { Env } from "../env.ts";

export type Claim = { room: string; requestId: string; at: number };
export type ClaimResult = { ok: true } | { ok: false; room: string };

/** Recent request ids per user and the room each lives in, for `GET /request/{id}` routing. */
const RECENT_REQUESTS = 50;
const TRIM_EVERY = 10;

/**
 * One per user (addressed by user id): which bucket holds the user's live request, so a user
 * has at most one across all buckets. Bucket actors claim before creating a request and release
 * when it ends. The bucket actors stay the source of truth: whenever a claim is contested, the
 * registry asks the holding bucket whether the request is still live, so a lost release or an
 * evicted actor can never leave a user locked out.
 */
export class UserRegistry extends DurableObject<Env> {
  readonly #sql: SqlStorage;

  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env);
    this.#sql = ctx.storage.sql;
    this.#sql.exec(`
      CREATE TABLE IF NOT EXISTS claim (one INTEGER PRIMARY KEY CHECK (one = 1), room TEXT NOT NULL,
        request_id TEXT NOT NULL, at INTEGER NOT NULL);
      CREATE TABLE IF NOT EXISTS recent (request_id TEXT PRIMARY KEY, room TEXT NOT NULL, at INTEGER NOT NULL);
    `);
  }

  /** Claim the user's one live request for `room`; refused while another bucket holds it. */
  async claim(userId: string, room: string, requestId: string): Promise<ClaimResult> {
    const held = this.#current();
    if (held && held.room !== room && (await this.#stillLive(userId, held))) {
      // Re-read: another call may have changed the claim while we awaited the bucket.
      const now = this.#current();
      if (now && now.room !== room) return { ok: false, room: now.room };
    }
    // A bucket claims only when it holds no live request for the user, so a claim already held
    // for this room is stale: take it over with the new request's id (a late release of the old
    // request then matches nothing).
    // No transactionSync: writes made in one synchronous block are committed together anyway,
    // and its SAVEPOINT/RELEASE pair was a third of this path's statements (#6). Should the
    // second write throw, the claim stands without its routing note; a contested claim is
    // checked with its bucket anyway, so nobody is locked out by it.
    this.#sql.exec(
      "INSERT OR REPLACE INTO claim (one, room, request_id, at) VALUES (1, ?, ?, ?)",
      room,
      requestId,
      Date.now(),
    );
    this.#remember(requestId, room);
    return { ok: true };
  }

  /**
   * The request `requestId` in `room` ended. The claim goes only if it is still that request's:
   * a release that arrives after the user joined again (a new claim, a new id) changes nothing.
   * No call back to the bucket is needed, because the caller is the bucket that holds it.
   */
  release(room: string, requestId: string): void {
    this.#sql.exec("DELETE FROM claim WHERE room = ? AND request_id = ?", room, requestId);
  }

  /** Note a request id created in `room` (for routing lookups by id). */
  remember(requestId: string, room: string): void {
    this.#remember(requestId, room);
  }

  /** The room of the user's live request, verified with its bucket. */
  async liveRoom(userId: string): Promise<string | null> {
    const held = this.#current();
    if (!held) return null;
    if (await this.#stillLive(userId, held)) return held.room;
    return null;
  }

  roomOfRequest(requestId: string): string | null {
    return (
      this.#sql.exec<{ room: string }>("SELECT room FROM recent WHERE request_id = ?", requestId).toArray()[0]
        ?.room ?? null
    );
  }

  /** Rooms of the user's recent requests, newest first (to find a match that already ended). */
  recentRooms(): string[] {
    return this.#sql
      .exec<{ room: string }>("SELECT room FROM recent GROUP BY room ORDER BY max(at) DESC LIMIT 5")
      .toArray()
      .map((r) => r.room);
  }

  #current(): Claim | null {
    const row = this.#sql
      .exec<{ room: string; request_id: string; at: number }>("SELECT room, request_id, at FROM claim")
      .toArray()[0];
    return row ? { room: row.room, requestId: row.request_id, at: row.at } : null;
  }

  #remember(requestId: string, room: string): void {
    const inserted = this.#sql
      .exec<{ rowid: number }>(
        "INSERT OR IGNORE INTO recent (request_id, room, at) VALUES (?, ?, ?) RETURNING rowid",
        requestId,
        room,
        Date.now(),
      )
      .toArray()[0];
    // Trim every TRIM_EVERY-th insert, not every one: the list may run up to TRIM_EVERY over its
    // length, and a join pays one statement less. A new rowid is the largest plus one, and the
    // trim keeps the largest, so rowids keep counting up across trims and evictions.
    if (inserted && inserted.rowid % TRIM_EVERY === 0) {
      this.#sql.exec(
        "DELETE FROM recent WHERE rowid NOT IN (SELECT rowid FROM recent ORDER BY rowid DESC LIMIT ?)",
        RECENT_REQUESTS,
      );
    }
  }

  async #stillLive(userId: string, claim: Claim): Promise<boolean> {
    return bucketActor(this.env, claim.room).holdsLiveRequest(userId);
  }
}

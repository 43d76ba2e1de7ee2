import type { PeerMessage } from "../matching/peerMessages.ts";
import { type FlexibleFields, inItsOwnBucket } from "../matching/state.ts";
import type { Step } from "../matching/step.ts";
import type { Match, MatchRequest, Profile } from "../matching/types.ts";
import { ActorOutbox } from "../records/actorOutbox.ts";
import type { OutboxEntry } from "../records/deliverRecords.ts";

/**
 * The bucket actor's SQLite tables. Rows are the core's records as JSON plus the columns we
 * query by; every Step's writes land here in one transaction, together with the outbox rows
 * that carry the same facts to Postgres. Ended rows stay for an hour so `GET /request/{id}` and
 * the queue figures can answer about them, then the alarm prunes them.
 */
export const ENDED_ROW_RETENTION_MS = 3_600_000;

export class BucketStorage {
  readonly #sql: SqlStorage;
  readonly #storage: DurableObjectStorage;
  readonly #outbox: ActorOutbox;

  constructor(storage: DurableObjectStorage) {
    this.#storage = storage;
    this.#sql = storage.sql;
    this.#outbox = new ActorOutbox(storage.sql);
    this.#sql.exec(`
      CREATE TABLE IF NOT EXISTS requests (
        id TEXT PRIMARY KEY, user_id TEXT NOT NULL, status TEXT NOT NULL,
        ended_at INTEGER, body TEXT NOT NULL);
      CREATE INDEX IF NOT EXISTS requests_live ON requests (status) WHERE ended_at IS NULL;
      -- Served a per-user lookup that is no longer made; dropped so older buckets stop
      -- updating it on every request write.
      DROP INDEX IF EXISTS requests_user;
      CREATE INDEX IF NOT EXISTS requests_ended ON requests (ended_at) WHERE ended_at IS NOT NULL;
      CREATE TABLE IF NOT EXISTS matches (
        id TEXT PRIMARY KEY, status TEXT NOT NULL, created_at INTEGER NOT NULL,
        ended_at INTEGER, body TEXT NOT NULL);
      CREATE INDEX IF NOT EXISTS matches_live ON matches (status) WHERE ended_at IS NULL;
      CREATE INDEX IF NOT EXISTS matches_created ON matches (created_at);
      CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value INTEGER);
      -- Messages for other buckets (flexible requests), kept until delivered, in order per room.
      CREATE TABLE IF NOT EXISTS peer_outbox (
        seq INTEGER PRIMARY KEY AUTOINCREMENT, room TEXT NOT NULL, body TEXT NOT NULL);
    `);
  }

  /** Live rows, for rebuilding the in-memory state after a restart or eviction. */
  loadLive(): { requests: MatchRequest[]; matches: Match[] } {
    const requests = this.#sql
      .exec<{ body: string }>("SELECT body FROM requests WHERE ended_at IS NULL")
      .toArray()
      .map((row) => storedRequest(row.body));
    const matches = this.#sql
      .exec<{ body: string }>("SELECT body FROM matches WHERE ended_at IS NULL")
      .toArray()
      .map((row) => storedMatch(row.body));
    return { requests, matches };
  }

  /** Persist one Step's rows, their outbox entries and its messages for other buckets atomically. */
  write(step: Step, recordOutbox: boolean): void {
    // Only flexible requests make messages: most steps have none, and allocate nothing for them.
    if (!step.wroteAnything && !step.effects.some((e) => e.kind === "peer")) return;
    this.#storage.transactionSync(() => {
      for (const e of step.effects) {
        if (e.kind !== "peer") continue;
        this.#sql.exec(
          "INSERT INTO peer_outbox (room, body) VALUES (?, ?)",
          e.room,
          JSON.stringify(e.message),
        );
      }
      // Matches first: a consumer replaying the outbox in order sees a match before the
      // request rows that point at it.
      for (const m of step.matches.values()) {
        const body = JSON.stringify(m);
        this.#sql.exec(
          `INSERT INTO matches (id, status, created_at, ended_at, body) VALUES (?, ?, ?, ?, ?)
           ON CONFLICT (id) DO UPDATE SET status = excluded.status, ended_at = excluded.ended_at, body = excluded.body`,
          m.id,
          m.status,
          m.createdAt,
          m.endedAt,
          body,
        );
        if (recordOutbox) this.#outbox.add("match", body);
      }
      for (const r of step.requests.values()) {
        const body = JSON.stringify(r);
        this.#sql.exec(
          `INSERT INTO requests (id, user_id, status, ended_at, body) VALUES (?, ?, ?, ?, ?)
           ON CONFLICT (id) DO UPDATE SET status = excluded.status, ended_at = excluded.ended_at, body = excluded.body`,
          r.id,
          r.userId,
          r.status,
          r.endedAt,
          body,
        );
        // A guest entry is a copy; its home records the request.
        if (recordOutbox && r.home === null) this.#outbox.add("request", body);
      }
    });
  }

  outboxSize(): number {
    return this.#outbox.outboxSize();
  }

  outboxBatch(limit: number): OutboxEntry[] {
    return this.#outbox.outboxBatch(limit);
  }

  dropOutboxThrough(seq: number): void {
    this.#outbox.dropOutboxThrough(seq);
  }

  /** Rooms with undelivered messages. */
  peerRooms(): string[] {
    return this.#sql
      .exec<{ room: string }>("SELECT DISTINCT room FROM peer_outbox")
      .toArray()
      .map((row) => row.room);
  }

  /** The oldest undelivered messages for `room`, in the order they were written. */
  peerBatch(room: string, limit: number): { seq: number; message: PeerMessage }[] {
    return this.#sql
      .exec<{ seq: number; body: string }>(
        "SELECT seq, body FROM peer_outbox WHERE room = ? ORDER BY seq LIMIT ?",
        room,
        limit,
      )
      .toArray()
      .map((row) => ({ seq: row.seq, message: JSON.parse(row.body) as PeerMessage }));
  }

  dropPeerThrough(room: string, seq: number): void {
    this.#sql.exec("DELETE FROM peer_outbox WHERE room = ? AND seq <= ?", room, seq);
  }

  findRequest(id: string): MatchRequest | undefined {
    const row = this.#sql.exec<{ body: string }>("SELECT body FROM requests WHERE id = ?", id).toArray()[0];
    return row ? storedRequest(row.body) : undefined;
  }

  /**
   * The user's request here that was paired in `matchId`, if any: their own request or, in the
   * bucket that made the match, their guest entry (never both in one bucket).
   */
  requestPairedIn(userId: string, matchId: string): MatchRequest | undefined {
    // No index on the user: this serves only answers to matches that are over, and the table
    // holds a bounded retention of ended rows.
    return this.#sql
      .exec<{ body: string }>(
        "SELECT body FROM requests WHERE user_id = ? AND json_extract(body, '$.matchId') = ?",
        userId,
        matchId,
      )
      .toArray()
      .map((row) => storedRequest(row.body))[0];
  }

  findMatch(id: string): Match | undefined {
    const row = this.#sql.exec<{ body: string }>("SELECT body FROM matches WHERE id = ?", id).toArray()[0];
    return row ? storedMatch(row.body) : undefined;
  }

  matchedSince(since: number): number {
    return (
      this.#sql
        .exec<{ n: number }>("SELECT count(*) AS n FROM matches WHERE created_at >= ?", since)
        .toArray()[0]?.n ?? 0
    );
  }

  oldestEndedAt(): number | null {
    return (
      this.#sql
        .exec<{ t: number | null }>(
          "SELECT min(ended_at) AS t FROM (SELECT ended_at FROM requests WHERE ended_at IS NOT NULL UNION ALL SELECT ended_at FROM matches WHERE ended_at IS NOT NULL)",
        )
        .toArray()[0]?.t ?? null
    );
  }

  tokenExpiryAt(): number | null {
    return (
      this.#sql.exec<{ value: number }>("SELECT value FROM meta WHERE key = 'token_expiry'").toArray()[0]
        ?.value ?? null
    );
  }

  setTokenExpiryAt(at: number | null): void {
    if (at === null) this.#sql.exec("DELETE FROM meta WHERE key = 'token_expiry'");
    else this.#sql.exec("INSERT OR REPLACE INTO meta (key, value) VALUES ('token_expiry', ?)", at);
  }

  /** The `pairingFingerprint` the live rows were paired under; null for a new bucket. */
  pairingFingerprint(): number | null {
    return (
      this.#sql.exec<{ value: number }>("SELECT value FROM meta WHERE key = 'pairing'").toArray()[0]?.value ??
      null
    );
  }

  setPairingFingerprint(value: number): void {
    this.#sql.exec("INSERT OR REPLACE INTO meta (key, value) VALUES ('pairing', ?)", value);
  }

  pruneEnded(now: number): void {
    const before = now - ENDED_ROW_RETENTION_MS;
    this.#sql.exec("DELETE FROM requests WHERE ended_at IS NOT NULL AND ended_at < ?", before);
    this.#sql.exec("DELETE FROM matches WHERE ended_at IS NOT NULL AND ended_at < ?", before);
  }
}

/**
 * Rows written before roles, ratings, blocks and cooldowns existed lack those fields: such a
 * request asked for nothing (anyone, unrated), and such a match's parts were never told, so
 * they are read as the coin would have fallen for the first user. Rows from before flexible
 * requests waited in their own bucket only.
 */
function storedRequest(body: string): MatchRequest {
  const r = JSON.parse(body) as Partial<MatchRequest> &
    Omit<MatchRequest, keyof Profile | FlexibleFields | "recheckAt">;
  return {
    role: "either",
    rating: null,
    blocked: [],
    recent: {},
    recheckAt: null,
    ...inItsOwnBucket(),
    ...r,
  };
}

function storedMatch(body: string): Match {
  const m = JSON.parse(body) as Partial<Match> & Omit<Match, "parts">;
  return { parts: ["interviewer", "interviewee"], ...m };
}

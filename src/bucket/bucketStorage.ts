import type { PeerMessage } from "../matching/peerMessages.ts";
import { type FlexibleFields, inItsOwnBucket } from "../matching/state.ts";
import type { Step } from "../matching/step.ts";
import type { Match, MatchRequest, Profile } from "../matching/types.ts";
import type { OutboxEntry } from "../records/deliverRecords.ts";

/**
 * The bucket actor's SQLite tables. Rows are the core's records as JSON plus the columns we
 * query by; every Step's writes land here in one transaction. Ended rows stay for an hour so
 * `GET /request/{id}` and the queue figures can answer about them, then the alarm prunes them.
 *
 * A Durable Object pays for every row it writes, index entries included, so each request and
 * match is one row of a `WITHOUT ROWID` table keyed by its id, with no secondary index: live
 * state is held in memory, and what needs a scan (waking, pruning) is rare. The rows are also
 * the outbox: a row that Postgres must learn about carries the `version` it will be stored
 * with, and those above the `delivered` watermark are what is owed. Postgres keeps every match
 * (each version: its participants can look it up there while it is proposed) and every
 * request's outcome, so a request row is owed once it has ended (a guest entry never: its home
 * records the request); nobody reads a live request from Postgres.
 * docs/storage-bucket.md has the counts behind this.
 */
export const ENDED_ROW_RETENTION_MS = 3_600_000;
/**
 * Ended rows are pruned in batches this far apart: pruning scans the tables (no index on
 * `ended_at`), so it runs a few times an hour rather than whenever the oldest row comes of age.
 */
const PRUNE_BATCH_MS = 300_000;
/** After how long an ended row is pruned: kept at least `ENDED_ROW_RETENTION_MS`. */
export const PRUNE_AFTER_MS = ENDED_ROW_RETENTION_MS + PRUNE_BATCH_MS;

/** The layout this code writes; older objects are upgraded on wake (`upgradeStorage`). */
const SCHEMA_VERSION = 2;

type Kind = OutboxEntry["kind"];
const TABLE: Record<Kind, "requests" | "matches"> = { request: "requests", match: "matches" };

export class BucketStorage {
  readonly #sql: SqlStorage;
  readonly #storage: DurableObjectStorage;
  /** The last version handed out; versions only grow, across restarts too. */
  #version: number;
  /** Versions at or below this have reached Postgres. */
  #delivered: number;
  /** Rows owed to Postgres, by id: their kind and the version owed, in the order of versions. */
  readonly #owed = new Map<string, { kind: Kind; version: number }>();
  /** When each match of the last hour was created, oldest first (`matchedSince`). */
  readonly #created = new Map<string, number>();

  constructor(storage: DurableObjectStorage) {
    this.#storage = storage;
    this.#sql = storage.sql;
    storage.transactionSync(() => upgradeStorage(this.#sql));
    this.#delivered = this.#meta("delivered") ?? 0;
    this.#version = this.#delivered;
    const owed: [string, { kind: Kind; version: number }][] = [];
    for (const kind of ["match", "request"] as const) {
      const rows = this.#sql
        .exec<{ id: string; version: number }>(
          `SELECT id, version FROM ${TABLE[kind]} WHERE version IS NOT NULL`,
        )
        .toArray();
      for (const { id, version } of rows) {
        this.#version = Math.max(this.#version, version);
        if (version > this.#delivered) owed.push([id, { kind, version }]);
      }
    }
    for (const entry of owed.sort((a, b) => a[1].version - b[1].version)) this.#owed.set(...entry);
    const since = Date.now() - ENDED_ROW_RETENTION_MS;
    for (const row of this.#sql
      .exec<{ id: string; created_at: number }>(
        "SELECT id, created_at FROM matches WHERE created_at >= ? ORDER BY created_at",
        since,
      )
      .toArray())
      this.#created.set(row.id, row.created_at);
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

  /** Persist one Step's rows and its messages for other buckets atomically. */
  write(step: Step, recordOutbox: boolean): void {
    // Only flexible requests make messages: most steps have none, and allocate nothing for them.
    if (!step.wroteAnything && !step.effects.some((e) => e.kind === "peer")) return;
    const owed: [string, { kind: Kind; version: number } | null][] = [];
    const owe = (kind: Kind, id: string, owedNow: boolean): number | null => {
      if (!recordOutbox || !owedNow) {
        // Only an object upgraded from version 1 can owe a live request: its outcome will be owed.
        if (this.#owed.has(id)) owed.push([id, null]);
        return null;
      }
      const version = ++this.#version;
      owed.push([id, { kind, version }]);
      return version;
    };
    const version = this.#version;
    try {
      this.#storage.transactionSync(() => {
        for (const e of step.effects) {
          if (e.kind !== "peer") continue;
          this.#sql.exec(
            "INSERT INTO peer_outbox (room, body) VALUES (?, ?)",
            e.room,
            JSON.stringify(e.message),
          );
        }
        // Matches first: their versions come before those of the request rows that point at them.
        for (const m of step.matches.values()) {
          this.#sql.exec(
            `INSERT INTO matches (id, status, created_at, ended_at, version, body) VALUES (?, ?, ?, ?, ?, ?)
             ON CONFLICT (id) DO UPDATE SET status = excluded.status, ended_at = excluded.ended_at,
               version = excluded.version, body = excluded.body`,
            m.id,
            m.status,
            m.createdAt,
            m.endedAt,
            // Every match is shown from Postgres (`GET /matches/{id}`, history) from the proposal on.
            owe("match", m.id, true),
            JSON.stringify(m),
          );
        }
        for (const r of step.requests.values()) {
          this.#sql.exec(
            `INSERT INTO requests (id, user_id, status, ended_at, version, body) VALUES (?, ?, ?, ?, ?, ?)
             ON CONFLICT (id) DO UPDATE SET status = excluded.status, ended_at = excluded.ended_at,
               version = excluded.version, body = excluded.body`,
            r.id,
            r.userId,
            r.status,
            r.endedAt,
            // A guest entry is a copy; its home records the request.
            owe("request", r.id, r.endedAt !== null && r.home === null),
            JSON.stringify(r),
          );
        }
      });
    } catch (e) {
      this.#version = version;
      throw e;
    }
    for (const [id, entry] of owed) {
      // Moved to the end: its new version is the highest.
      this.#owed.delete(id);
      if (entry) this.#owed.set(id, entry);
    }
    for (const m of step.matches.values()) {
      if (this.#created.has(m.id)) continue;
      this.#created.set(m.id, m.createdAt);
      this.#forgetCreatedBefore(m.createdAt - ENDED_ROW_RETENTION_MS);
    }
  }

  /** Rows not yet delivered to Postgres. */
  outboxSize(): number {
    return this.#owed.size;
  }

  /** The owed rows with the lowest versions, each as the newest version stored. */
  outboxBatch(limit: number): OutboxEntry[] {
    const batch: OutboxEntry[] = [];
    for (const [id, { kind, version }] of this.#owed) {
      if (batch.length === limit) break;
      const { body } = this.#sql
        .exec<{ body: string }>(`SELECT body FROM ${TABLE[kind]} WHERE id = ?`, id)
        .one();
      batch.push({ seq: version, kind, body });
    }
    return batch;
  }

  /** Versions up to `seq` have reached Postgres (a row written again since stays owed). */
  dropOutboxThrough(seq: number): void {
    if (seq <= this.#delivered) return;
    this.#setMeta("delivered", seq);
    this.#delivered = seq;
    for (const [id, { version }] of this.#owed) {
      if (version > seq) break;
      this.#owed.delete(id);
    }
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

  /** Matches created since `since`, which never moves back (it is an hour before now). */
  matchedSince(since: number): number {
    this.#forgetCreatedBefore(since);
    return this.#created.size;
  }

  #forgetCreatedBefore(since: number): void {
    for (const [id, at] of this.#created) {
      if (at >= since) return;
      this.#created.delete(id);
    }
  }

  /**
   * When the oldest ended row ended, for the next prune. A row still owed to Postgres cannot go
   * yet: it counts as ended no earlier than now, so a database that stays down brings the next
   * prune a batch later rather than at once, again and again.
   */
  oldestEndedAt(): number | null {
    const oldest = (owed: boolean) =>
      this.#sql
        .exec<{ t: number | null }>(
          `SELECT min(ended_at) AS t FROM (
             SELECT ended_at, version FROM requests WHERE ended_at IS NOT NULL
             UNION ALL SELECT ended_at, version FROM matches WHERE ended_at IS NOT NULL)
           WHERE (version IS NOT NULL AND version > ?) = ?`,
          this.#delivered,
          owed ? 1 : 0,
        )
        .one().t;
    const delivered = oldest(false);
    const owed = this.#owed.size > 0 ? oldest(true) : null;
    if (owed === null) return delivered;
    const notBefore = Math.max(owed, Date.now() - ENDED_ROW_RETENTION_MS);
    return delivered === null ? notBefore : Math.min(delivered, notBefore);
  }

  tokenExpiryAt(): number | null {
    return this.#meta("token_expiry");
  }

  setTokenExpiryAt(at: number | null): void {
    if (at === null) this.#sql.exec("DELETE FROM meta WHERE key = 'token_expiry'");
    else this.#setMeta("token_expiry", at);
  }

  /** The `pairingFingerprint` the live rows were paired under; null for a new bucket. */
  pairingFingerprint(): number | null {
    return this.#meta("pairing");
  }

  setPairingFingerprint(value: number): void {
    this.#setMeta("pairing", value);
  }

  #meta(key: string): number | null {
    return (
      this.#sql.exec<{ value: number }>("SELECT value FROM meta WHERE key = ?", key).toArray()[0]?.value ??
      null
    );
  }

  #setMeta(key: string, value: number): void {
    // An upsert rewrites the one row; REPLACE would delete and insert it (two rows written).
    this.#sql.exec(
      "INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value",
      key,
      value,
    );
  }

  /** Drop rows ended more than the retention ago, once Postgres has them. */
  pruneEnded(now: number): void {
    const before = now - ENDED_ROW_RETENTION_MS;
    for (const table of ["requests", "matches"]) {
      this.#sql.exec(
        `DELETE FROM ${table} WHERE ended_at < ? AND (version IS NULL OR version <= ?)`,
        before,
        this.#delivered,
      );
    }
  }
}

/**
 * Bring an object's tables to `SCHEMA_VERSION`, in one transaction. Objects written before the
 * schema version was kept (version 1) had rowid tables with a `TEXT PRIMARY KEY` and indexes on
 * columns every transition changes, and an outbox table holding a copy of each write, numbered by
 * `AUTOINCREMENT`; Postgres stores those numbers as versions. Their rows move to the new tables
 * unchanged. What their outbox still owed becomes owed rows with versions above every number it
 * handed out (an entry whose row was pruned meanwhile comes back as that row until delivered),
 * and the watermark starts at that last number, so every later write still outranks what
 * Postgres holds. Messages for other buckets keep their numbers.
 */
function upgradeStorage(sql: SqlStorage): void {
  const tables = new Set(
    sql
      .exec<{ name: string }>("SELECT name FROM sqlite_master WHERE type = 'table'")
      .toArray()
      .map((row) => row.name),
  );
  const version = tables.has("meta")
    ? (sql.exec<{ value: number }>("SELECT value FROM meta WHERE key = 'schema'").toArray()[0]?.value ?? 1)
    : 0;
  if (version === SCHEMA_VERSION) return;
  if (version > SCHEMA_VERSION)
    throw new Error(`bucket storage is at schema ${version}, newer than this code`);
  if (tables.has("meta")) sql.exec("ALTER TABLE meta RENAME TO meta_v1");
  if (tables.has("peer_outbox")) sql.exec("ALTER TABLE peer_outbox RENAME TO peer_outbox_v1");
  for (const table of ["requests", "matches"])
    if (tables.has(table)) sql.exec(`ALTER TABLE ${table} RENAME TO ${table}_v1`);
  sql.exec(`
    DROP INDEX IF EXISTS requests_live;
    DROP INDEX IF EXISTS requests_user;
    DROP INDEX IF EXISTS requests_ended;
    DROP INDEX IF EXISTS matches_live;
    DROP INDEX IF EXISTS matches_created;
    CREATE TABLE meta (key TEXT PRIMARY KEY, value INTEGER) WITHOUT ROWID;
    CREATE TABLE requests (
      id TEXT PRIMARY KEY, user_id TEXT NOT NULL, status TEXT NOT NULL,
      ended_at INTEGER, version INTEGER, body TEXT NOT NULL) WITHOUT ROWID;
    CREATE TABLE matches (
      id TEXT PRIMARY KEY, status TEXT NOT NULL, created_at INTEGER NOT NULL,
      ended_at INTEGER, version INTEGER, body TEXT NOT NULL) WITHOUT ROWID;
    -- Messages for other buckets (flexible requests), kept until delivered, in order per room.
    -- A new message is numbered above every one stored, and a batch in flight is still stored,
    -- so plain rowids keep the order; AUTOINCREMENT would write sqlite_sequence too.
    CREATE TABLE peer_outbox (seq INTEGER PRIMARY KEY, room TEXT NOT NULL, body TEXT NOT NULL);
  `);
  if (tables.has("meta"))
    sql.exec("INSERT INTO meta (key, value) SELECT key, value FROM meta_v1; DROP TABLE meta_v1");
  if (tables.has("peer_outbox"))
    sql.exec("INSERT INTO peer_outbox SELECT seq, room, body FROM peer_outbox_v1; DROP TABLE peer_outbox_v1");
  if (tables.has("requests"))
    sql.exec(`INSERT INTO requests (id, user_id, status, ended_at, version, body)
      SELECT id, user_id, status, ended_at, NULL, body FROM requests_v1; DROP TABLE requests_v1`);
  if (tables.has("matches"))
    sql.exec(`INSERT INTO matches (id, status, created_at, ended_at, version, body)
      SELECT id, status, created_at, ended_at, NULL, body FROM matches_v1; DROP TABLE matches_v1`);
  let delivered = 0;
  if (tables.has("outbox")) {
    // AUTOINCREMENT's next number is the first above every one it handed out, delivered or not.
    delivered =
      sql.exec<{ seq: number }>("INSERT INTO outbox (kind, body) VALUES ('request', '') RETURNING seq").one()
        .seq - 1;
    // The newest entry of each row, in the order of those entries.
    const owed = new Map<string, { kind: Kind; row: Record<string, unknown>; body: string }>();
    for (const e of sql.exec<{ kind: Kind; body: string }>(
      "SELECT kind, body FROM outbox WHERE seq <= ? ORDER BY seq",
      delivered,
    )) {
      const row = parsedRow(e.kind, e.body);
      if (!row) continue;
      const key = `${e.kind} ${String(row.id)}`;
      owed.delete(key);
      owed.set(key, { kind: e.kind, row, body: e.body });
    }
    let version = delivered;
    for (const { kind, row, body } of owed.values()) {
      // A row still stored is at least as new as its last entry: only its version changes.
      if (kind === "match")
        sql.exec(
          `INSERT INTO matches (id, status, created_at, ended_at, version, body) VALUES (?, ?, ?, ?, ?, ?)
           ON CONFLICT (id) DO UPDATE SET version = excluded.version`,
          row.id,
          row.status,
          row.createdAt,
          row.endedAt ?? null,
          ++version,
          body,
        );
      else
        sql.exec(
          `INSERT INTO requests (id, user_id, status, ended_at, version, body) VALUES (?, ?, ?, ?, ?, ?)
           ON CONFLICT (id) DO UPDATE SET version = excluded.version`,
          row.id,
          row.userId,
          row.status,
          row.endedAt ?? null,
          ++version,
          body,
        );
    }
    sql.exec("DROP TABLE outbox");
  }
  sql.exec("INSERT INTO meta (key, value) VALUES ('delivered', ?), ('schema', ?)", delivered, SCHEMA_VERSION);
}

/**
 * An outbox entry of a version-1 object, if it has what a row needs (one without could never be
 * delivered, and was skipped by the delivery too).
 */
function parsedRow(kind: Kind, body: string): Record<string, unknown> | null {
  let row: unknown;
  try {
    row = JSON.parse(body);
  } catch {
    return null;
  }
  if (typeof row !== "object" || row === null) return null;
  const r = row as Record<string, unknown>;
  const has = (key: string, type: string) => typeof r[key] === type;
  const ok =
    has("id", "string") &&
    has("status", "string") &&
    (kind === "match" ? has("createdAt", "number") : has("userId", "string"));
  return ok ? r : null;
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

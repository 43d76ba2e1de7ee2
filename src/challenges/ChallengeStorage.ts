import { ActorOutbox } from "../records/actorOutbox.ts";
import type { ChallengeSetup } from "./challengeMatch.ts";
import type { Challenge } from "./challengeRules.ts";

/** Which side of a challenge this object keeps: one it owns (received), or its index of one sent. */
export type Side = "incoming" | "outgoing";

/** Ended challenges are kept this long for `GET /challenges/{id}`, then pruned. */
export const ENDED_CHALLENGE_RETENTION_MS = 86_400_000;

/**
 * A user's own object's SQLite: the challenges it received (owned: their status is decided
 * here) and an index of those it sent (owned by each opponent's object), matches being set up
 * for accepted ones, and the outbox that carries settled matches to Postgres.
 */
export class ChallengeStorage {
  readonly #sql: SqlStorage;
  readonly #storage: DurableObjectStorage;
  /** The outbox that carries settled matches to Postgres (`OutboxDelivery` drains it). */
  readonly outbox: ActorOutbox;

  constructor(storage: DurableObjectStorage) {
    this.#storage = storage;
    this.#sql = storage.sql;
    this.outbox = new ActorOutbox(storage.sql);
    this.#sql.exec(`
      CREATE TABLE IF NOT EXISTS challenges (id TEXT PRIMARY KEY, side TEXT NOT NULL,
        other_id TEXT NOT NULL, status TEXT NOT NULL, expires_at INTEGER NOT NULL,
        created_at INTEGER NOT NULL, ended_at INTEGER, body TEXT NOT NULL);
      CREATE INDEX IF NOT EXISTS challenges_pending ON challenges (side, expires_at) WHERE status = 'PENDING';
      CREATE TABLE IF NOT EXISTS setups (match_id TEXT PRIMARY KEY, body TEXT NOT NULL);
    `);
  }

  find(id: string): { side: Side; challenge: Challenge } | undefined {
    const row = this.#sql
      .exec<{ side: Side; body: string }>("SELECT side, body FROM challenges WHERE id = ?", id)
      .toArray()[0];
    return row ? { side: row.side, challenge: JSON.parse(row.body) as Challenge } : undefined;
  }

  /** Pending challenges of one side (with `otherId` only: those between us and that user). */
  pending(side: Side, otherId?: string): Challenge[] {
    const rows =
      otherId === undefined
        ? this.#sql.exec<{ body: string }>(
            "SELECT body FROM challenges WHERE side = ? AND status = 'PENDING'",
            side,
          )
        : this.#sql.exec<{ body: string }>(
            "SELECT body FROM challenges WHERE side = ? AND status = 'PENDING' AND other_id = ?",
            side,
            otherId,
          );
    return rows.toArray().map((r) => JSON.parse(r.body) as Challenge);
  }

  /** When the earliest challenge we own runs out; null when none is pending. */
  nextExpiry(): number | null {
    return (
      this.#sql
        .exec<{ t: number | null }>(
          "SELECT min(expires_at) AS t FROM challenges WHERE side = 'incoming' AND status = 'PENDING'",
        )
        .toArray()[0]?.t ?? null
    );
  }

  oldestEndedAt(): number | null {
    return (
      this.#sql
        .exec<{ t: number | null }>("SELECT min(ended_at) AS t FROM challenges WHERE ended_at IS NOT NULL")
        .toArray()[0]?.t ?? null
    );
  }

  pruneEnded(now: number): void {
    this.#sql.exec(
      "DELETE FROM challenges WHERE ended_at IS NOT NULL AND ended_at < ?",
      now - ENDED_CHALLENGE_RETENTION_MS,
    );
  }

  /**
   * Save a challenge's new state, with whatever goes with it in the same transaction: the setup
   * of its match (started, or finished: `setup` null with `settledMatch`), and outbox rows.
   */
  save(
    side: Side,
    c: Challenge,
    extra: {
      setup?: ChallengeSetup;
      finishedSetup?: string;
      records?: Array<{ kind: "match" | "request"; body: object }>;
    } = {},
  ): void {
    this.#storage.transactionSync(() => {
      const otherId = side === "incoming" ? c.challengerId : c.opponentId;
      this.#sql.exec(
        `INSERT INTO challenges (id, side, other_id, status, expires_at, created_at, ended_at, body)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?)
         ON CONFLICT (id) DO UPDATE SET status = excluded.status, ended_at = excluded.ended_at, body = excluded.body`,
        c.id,
        side,
        otherId,
        c.status,
        c.expiresAt,
        c.createdAt,
        c.endedAt,
        JSON.stringify(c),
      );
      if (extra.setup) {
        this.#sql.exec(
          "INSERT OR REPLACE INTO setups (match_id, body) VALUES (?, ?)",
          extra.setup.match.id,
          JSON.stringify(extra.setup),
        );
      }
      if (extra.finishedSetup) this.#sql.exec("DELETE FROM setups WHERE match_id = ?", extra.finishedSetup);
      for (const r of extra.records ?? []) {
        this.outbox.add(r.kind, JSON.stringify(r.body));
      }
    });
  }

  /** A sent challenge its opponent refused: it never existed. */
  forget(id: string): void {
    this.#sql.exec("DELETE FROM challenges WHERE id = ?", id);
  }

  setup(matchId: string): ChallengeSetup | undefined {
    const row = this.#sql
      .exec<{ body: string }>("SELECT body FROM setups WHERE match_id = ?", matchId)
      .toArray()[0];
    return row ? (JSON.parse(row.body) as ChallengeSetup) : undefined;
  }

  setups(): ChallengeSetup[] {
    return this.#sql
      .exec<{ body: string }>("SELECT body FROM setups")
      .toArray()
      .map((r) => JSON.parse(r.body) as ChallengeSetup);
  }
}

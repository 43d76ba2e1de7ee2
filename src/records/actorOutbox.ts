import type { OutboxEntry } from "./deliverRecords.ts";

/**
 * An actor's outbox table in its own SQLite: rows written in the same transaction as the facts
 * they carry, read in order and dropped once delivered (`OutboxDelivery`). Users' own objects keep
 * one for challenge matches; a bucket's ended rows are its outbox (`BucketStorage`).
 */
export class ActorOutbox {
  readonly #sql: SqlStorage;

  constructor(sql: SqlStorage) {
    this.#sql = sql;
    this.#sql.exec(`CREATE TABLE IF NOT EXISTS outbox (
      seq INTEGER PRIMARY KEY AUTOINCREMENT, kind TEXT NOT NULL, body TEXT NOT NULL)`);
  }

  /** Call inside the transaction that writes the fact itself. */
  add(kind: OutboxEntry["kind"], body: string): void {
    this.#sql.exec("INSERT INTO outbox (kind, body) VALUES (?, ?)", kind, body);
  }

  outboxSize(): number {
    return this.#sql.exec<{ n: number }>("SELECT count(*) AS n FROM outbox").toArray()[0]?.n ?? 0;
  }

  /** The oldest entries, in the order their facts happened. */
  outboxBatch(limit: number): OutboxEntry[] {
    return this.#sql
      .exec<OutboxEntry>("SELECT seq, kind, body FROM outbox ORDER BY seq LIMIT ?", limit)
      .toArray();
  }

  dropOutboxThrough(seq: number): void {
    this.#sql.exec("DELETE FROM outbox WHERE seq <= ?", seq);
  }
}

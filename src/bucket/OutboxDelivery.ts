import { withDatabase } from "../db/connect.ts";
import { errorMessage } from "../errorMessage.ts";
import type { Bucket } from "../protocol/values.ts";
import { deliverRecords, type OutboxEntry } from "../records/deliverRecords.ts";

/** Where an actor keeps its outbox: a bucket's storage, or a user's own object's. */
export interface OutboxStore {
  outboxSize(): number;
  outboxBatch(limit: number): OutboxEntry[];
  dropOutboxThrough(seq: number): void;
}

/** How long a new outbox entry waits for company before delivery starts. */
const DELIVERY_BATCH_WAIT_MS = 1_000;
const OUTBOX_BATCH_SIZE = 500;
/** Batches (or time) one connection carries before the next delivery takes a fresh one. */
const BATCHES_PER_CONNECTION = 8;
/** Well inside withDatabase's 10 s timeout, so a slow database still makes progress. */
const CONNECTION_BUDGET_MS = 4_000;
const DELIVERY_FIRST_BACKOFF_MS = 1_000;
const DELIVERY_MAX_BACKOFF_MS = 60_000;

/**
 * An actor's outbox (a bucket's, or a user's own object's for challenge matches), drained to Postgres in seq order a batch at a time. Matching never waits
 * for this: the actor runs it from its alarm at `dueAt`, and a failure only backs off and tries
 * again later. Entries leave the outbox only once their batch is committed, and the writes are
 * idempotent, so a crash between the two replays harmlessly.
 */
export class OutboxDelivery {
  readonly #storage: OutboxStore;
  readonly #tenant: string;
  /** The bucket whose rows these are; null when each row names its own (challenge matches). */
  readonly #bucket: Bucket | null;
  readonly #databaseUrl: string | undefined;
  readonly #wsProxy: string | undefined;
  /** When the outbox should next be delivered; null when there is nothing to deliver. */
  #dueAt: number | null = null;
  /** Consecutive failed deliveries, for backoff. */
  #failures = 0;
  #delivering = false;

  constructor(
    storage: OutboxStore,
    tenant: string,
    bucket: Bucket | null,
    databaseUrl: string | undefined,
    wsProxy: string | undefined,
  ) {
    this.#storage = storage;
    this.#tenant = tenant;
    this.#bucket = bucket;
    this.#databaseUrl = databaseUrl;
    this.#wsProxy = wsProxy;
    if (databaseUrl && storage.outboxSize() > 0) this.#dueAt = Date.now();
  }

  /** Whether steps write outbox entries at all (only with a database to deliver them to). */
  get recording(): boolean {
    return this.#databaseUrl !== undefined;
  }

  get dueAt(): number | null {
    return this.#dueAt;
  }

  /** A step wrote entries: let a burst of steps share one delivery, a short wait from now. */
  wrote(): void {
    this.#dueAt ??= Date.now() + DELIVERY_BATCH_WAIT_MS;
  }

  async deliver(): Promise<void> {
    const url = this.#databaseUrl;
    if (this.#delivering || !url) return;
    this.#delivering = true;
    this.#dueAt = null;
    try {
      let batch = this.#storage.outboxBatch(OUTBOX_BATCH_SIZE);
      if (batch.length === 0) return;
      // One connection for a backlog (opening one costs more CPU than a batch's rows), and stop
      // at a short batch: entries written meanwhile wait for their own batch window rather than
      // being chased a few at a time over a new connection each (that cost 3.7 ms per join).
      // The callback only moves rows: if it outlives a timeout, it must not touch our state.
      const started = Date.now();
      const more = await withDatabase(url, this.#wsProxy, async (db) => {
        for (let n = 1; ; n++) {
          await deliverRecords(db, this.#bucket, batch, this.#tenant);
          this.#storage.dropOutboxThrough(batch.at(-1)!.seq);
          if (batch.length < OUTBOX_BATCH_SIZE) return false;
          // A long backlog goes on at once over a fresh connection, each within its own timeout.
          if (n === BATCHES_PER_CONNECTION || Date.now() - started > CONNECTION_BUDGET_MS) return true;
          batch = this.#storage.outboxBatch(OUTBOX_BATCH_SIZE);
          if (batch.length === 0) return false;
        }
      });
      this.#failures = 0;
      if (more) this.#dueAt = Date.now();
    } catch (e) {
      this.#failures++;
      const backoff = Math.min(
        DELIVERY_MAX_BACKOFF_MS,
        DELIVERY_FIRST_BACKOFF_MS * 2 ** (this.#failures - 1),
      );
      this.#dueAt = Date.now() + backoff * (0.75 + Math.random() / 2);
      console.warn(
        `outbox delivery failed (${this.#failures}x), retrying in ~${backoff} ms: ${errorMessage(e)}`,
      );
    } finally {
      this.#delivering = false;
      // Steps that ran while we were writing may have added entries.
      if (this.#dueAt === null && this.#storage.outboxSize() > 0) this.#dueAt = Date.now();
    }
  }
}

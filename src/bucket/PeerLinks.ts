import { errorMessage } from "../errorMessage.ts";
import type { PeerMessage } from "../matching/peerMessages.ts";
import type { BucketStorage } from "./bucketStorage.ts";

const BATCH = 100;
const FIRST_BACKOFF_MS = 200;
const MAX_BACKOFF_MS = 10_000;

/**
 * Delivery of a bucket's messages to the other buckets of its tenant (`handover.ts`). Messages
 * are stored with the step that made them and leave storage only once delivered, so a restart
 * loses none; each room gets them in the order they were written, one call at a time. The
 * receiver's handling is idempotent, so a batch delivered again after a crash changes nothing.
 */
export class PeerLinks {
  readonly #storage: BucketStorage;
  readonly #send: (room: string, messages: PeerMessage[]) => Promise<void>;
  /** Called when a failed delivery set `retryAt`, so the actor's alarm covers it. */
  readonly #retryLater: () => void;
  readonly #busy = new Set<string>();
  readonly #failures = new Map<string, number>();
  #retryAt: number | null = null;

  constructor(
    storage: BucketStorage,
    send: (room: string, messages: PeerMessage[]) => Promise<void>,
    retryLater: () => void,
  ) {
    this.#storage = storage;
    this.#send = send;
    this.#retryLater = retryLater;
  }

  /** When a failed delivery should be tried again (the actor's alarm); null if none failed. */
  get retryAt(): number | null {
    return this.#retryAt;
  }

  /** Deliver what is waiting for `rooms` (every room with messages when omitted). */
  kick(rooms: Iterable<string> = this.#storage.peerRooms()): void {
    this.#retryAt = null;
    for (const room of rooms) void this.#drain(room);
  }

  async #drain(room: string): Promise<void> {
    if (this.#busy.has(room)) return;
    this.#busy.add(room);
    try {
      for (;;) {
        const batch = this.#storage.peerBatch(room, BATCH);
        if (batch.length === 0) break;
        await this.#send(
          room,
          batch.map((b) => b.message),
        );
        this.#storage.dropPeerThrough(room, batch.at(-1)!.seq);
      }
      this.#failures.delete(room);
    } catch (e) {
      const failures = (this.#failures.get(room) ?? 0) + 1;
      this.#failures.set(room, failures);
      const at = Date.now() + Math.min(MAX_BACKOFF_MS, FIRST_BACKOFF_MS * 2 ** (failures - 1));
      if (this.#retryAt === null || at < this.#retryAt) this.#retryAt = at;
      console.warn(`messages to bucket ${room} failed (${failures}x): ${errorMessage(e)}`);
      this.#retryLater();
    } finally {
      this.#busy.delete(room);
    }
  }
}

/** Joins a user may make per window: generous for a person, and it stops a runaway client. */
export const JOINS_PER_WINDOW = 20;
export const JOIN_WINDOW_SECONDS = 60;

/**
 * Joins per key in fixed windows, in memory. Kept by the objects a join visits anyway (the
 * bucket for every join, the user's registry shard for every new request), so counting costs no
 * call of its own; a restarted object starts counting afresh, which is fine for its purpose.
 * The user's own object counts the challenges they send the same way.
 */
export class JoinRate {
  readonly #windows = new Map<string, { start: number; count: number }>();
  readonly #limit: number;
  readonly #windowMs: number;
  #sweepAt = 0;

  constructor(limit = JOINS_PER_WINDOW, windowSeconds = JOIN_WINDOW_SECONDS) {
    this.#limit = limit;
    this.#windowMs = windowSeconds * 1000;
  }

  /** Count one join of `key` at `now`; false (and not counted) when it is one too many. */
  allow(key: string, now: number): boolean {
    this.#sweep(now);
    const w = this.#windows.get(key);
    if (!w || now - w.start >= this.#windowMs) {
      this.#windows.set(key, { start: now, count: 1 });
      return true;
    }
    if (w.count >= this.#limit) return false;
    w.count++;
    return true;
  }

  /** Keys whose window is over are forgotten, at most once a window, so memory stays bounded. */
  #sweep(now: number): void {
    if (now < this.#sweepAt) return;
    this.#sweepAt = now + this.#windowMs;
    for (const [key, w] of this.#windows) if (now - w.start >= this.#windowMs) this.#windows.delete(key);
  }

  get size(): number {
    return this.#windows.size;
  }
}

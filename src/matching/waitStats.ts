/**
 * Recent waiting times and match counts for a bucket: enough for the `estimatedWaitMs` in a
 * `queued` frame and the queue figures endpoint, in bounded memory whatever the traffic.
 */
const RECENT_WAITS = 256;
const MINUTE = 60_000;

export class WaitStats {
  #waits: number[] = [];
  #next = 0;
  /** Sorted copy of #waits, rebuilt lazily: every `queued` frame reads it, matches invalidate it. */
  #sorted: number[] | null = null;
  /** Matches per minute for the last hour, as [minute, count] pairs, oldest first. */
  #perMinute: Array<[number, number]> = [];

  recordMatch(waitMs: number, now: number): void {
    if (this.#waits.length < RECENT_WAITS) this.#waits.push(waitMs);
    else this.#waits[this.#next] = waitMs;
    this.#next = (this.#next + 1) % RECENT_WAITS;
    this.#sorted = null;
    const minute = Math.floor(now / MINUTE);
    const last = this.#perMinute.at(-1);
    if (last && last[0] === minute) last[1] += 1;
    else this.#perMinute.push([minute, 1]);
    if (this.#perMinute.length > 61) this.#perMinute.shift();
  }

  percentile(p: number): number | null {
    if (this.#waits.length === 0) return null;
    this.#sorted ??= [...this.#waits].sort((a, b) => a - b);
    const sorted = this.#sorted;
    return Math.round(sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!);
  }

  matchedLastHour(now: number): number {
    const since = Math.floor((now - 3_600_000) / MINUTE);
    let n = 0;
    for (const [minute, count] of this.#perMinute) if (minute > since) n += count;
    return n;
  }
}

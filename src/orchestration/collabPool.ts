/**
 * Several collaboration servers behind one setting (`COLLAB_SERVICE_URL=https://a,https://b`,
 * as PeerPrep balances its chat servers): each session goes to the next URL in turn, and a URL
 * that just failed is put behind the others for a while, so the sessions after it skip it.
 *
 * How one session uses the order `next()` gives is setUpSession's business (it moves a session
 * to the next URL on its first failed attempt there); this module only keeps the turn and the
 * memory of failures.
 *
 * The state lives in memory, one pool per bucket actor instance (`collabPoolFor`), and that is
 * enough: the point is spreading (no one server gets every session) and avoiding a dead one, not
 * exact global fairness. Sessions are created by many bucket actors, each rotating its own from
 * a random starting URL, so across actors the load evens out; a shared counter would cost a
 * round trip to some global object on every setup for no real gain. A restarted actor starts a
 * fresh pool, which only forgets which URL was next and which failed lately.
 */

/** A URL that failed is tried after the healthy ones for this long. */
export const UNHEALTHY_MS = 30_000;

export type CollabPoolOptions = {
  /** Clock for the unhealthy window. Default `Date.now`. */
  now?: () => number;
  /** Default UNHEALTHY_MS. */
  unhealthyMs?: number;
  /** Index of the URL the first session goes to. Default random, so actors do not all start on the first URL. */
  start?: number;
};

export class CollabPool {
  /** The configured URLs, each once, in their configured order. */
  readonly urls: readonly string[];
  readonly #now: () => number;
  readonly #unhealthyMs: number;
  #cursor: number;
  /** URL -> time until which it is tried only after the healthy ones. */
  readonly #unhealthyUntil = new Map<string, number>();

  constructor(urls: readonly string[], options: CollabPoolOptions = {}) {
    this.urls = [...new Set(urls)];
    if (this.urls.length === 0) throw new Error("a collaboration pool needs at least one URL");
    this.#now = options.now ?? Date.now;
    this.#unhealthyMs = options.unhealthyMs ?? UNHEALTHY_MS;
    this.#cursor = Math.trunc(options.start ?? Math.random() * this.urls.length);
  }

  /**
   * The URLs to try for the next session, in order, and the turn moves on by one: the healthy
   * URLs rotated to this session's turn, then the unhealthy ones (a last resort, never left
   * out). With none healthy, every URL takes turns as if all were.
   */
  next(): string[] {
    const now = this.#now();
    const healthy: string[] = [];
    const unhealthy: string[] = [];
    for (const url of this.urls) {
      if ((this.#unhealthyUntil.get(url) ?? 0) > now) unhealthy.push(url);
      else {
        this.#unhealthyUntil.delete(url);
        healthy.push(url);
      }
    }
    const turn = this.#cursor++;
    if (healthy.length === 0) return rotate(this.urls, turn);
    return [...rotate(healthy, turn), ...unhealthy];
  }

  /** An attempt on `url` failed (any failure: no answer, 5xx, a refusal, a wrong shape). */
  failed(url: string): void {
    if (this.urls.includes(url)) this.#unhealthyUntil.set(url, this.#now() + this.#unhealthyMs);
  }

  /** `url` created a session: it is healthy again at once. */
  succeeded(url: string): void {
    this.#unhealthyUntil.delete(url);
  }

  /** Whether `url` is being skipped for now (for tests and logs). */
  isUnhealthy(url: string): boolean {
    return (this.#unhealthyUntil.get(url) ?? 0) > this.#now();
  }
}

function rotate(urls: readonly string[], turn: number): string[] {
  const at = ((turn % urls.length) + urls.length) % urls.length;
  return [...urls.slice(at), ...urls.slice(0, at)];
}

const pools = new WeakMap<object, CollabPool>();

/**
 * The pool of `owner` (a bucket actor instance) for the configured URLs, made on first use; none
 * when no URL is configured. Kept outside the owner so the actor needs no field for it, and
 * dropped with the owner.
 */
export function collabPoolFor(owner: object, urls: readonly string[]): CollabPool | undefined {
  if (urls.length === 0) return undefined;
  let pool = pools.get(owner);
  if (!pool || pool.urls.join(",") !== [...new Set(urls)].join(",")) {
    pool = new CollabPool(urls);
    pools.set(owner, pool);
  }
  return pool;
}

import { userActor } from "../actors.ts";
import type { Env } from "../env.ts";
import type { MatchRequest } from "../matching/types.ts";
import type { RequestView } from "../protocol/http.ts";

/**
 * The users of this bucket whose own channel is open (`/parties/user/{userId}`), who get
 * `request_update` whenever their request here changes. Their registry shard says so with the
 * claim it grants and pushes changes to the bucket holding the claim, so the join of a user
 * with no channel costs nothing more: no call, no write, a set lookup per changed request.
 * Updates go fire-and-forget: nobody waits for a channel.
 */
export class RequestWatchers {
  readonly #env: Env;
  readonly #tenant: string;
  readonly #sql: SqlStorage;
  readonly #watched: Set<string>;
  readonly #sending = new Map<string, Promise<void>>();

  constructor(env: Env, tenant: string, storage: DurableObjectStorage) {
    this.#env = env;
    this.#tenant = tenant;
    this.#sql = storage.sql;
    this.#sql.exec("CREATE TABLE IF NOT EXISTS request_watchers (user_id TEXT PRIMARY KEY) WITHOUT ROWID");
    this.#watched = new Set(
      this.#sql
        .exec<{ user_id: string }>("SELECT user_id FROM request_watchers")
        .toArray()
        .map((r) => r.user_id),
    );
  }

  /** The shard's word: the user's channel opened or closed. */
  set(userId: string, on: boolean): void {
    if (on === this.#watched.has(userId)) return;
    if (on) {
      this.#watched.add(userId);
      this.#sql.exec("INSERT OR IGNORE INTO request_watchers (user_id) VALUES (?)", userId);
    } else {
      this.#watched.delete(userId);
      this.#sql.exec("DELETE FROM request_watchers WHERE user_id = ?", userId);
    }
  }

  /**
   * A claim was granted with the flag. Only ever turns watching on: a close pushed while the
   * claim was out must not be undone by the older flag (an ended request stops it anyway).
   */
  granted(userId: string, watched: boolean | undefined): void {
    if (watched) this.set(userId, true);
  }

  watches(userId: string): boolean {
    return this.#watched.has(userId);
  }

  /**
   * Requests a step changed: tell their watching users, and stop watching those that ended.
   * `viewOf` may answer later: the view of a request paired in another bucket asks that bucket
   * for the match.
   */
  changed(
    requests: Iterable<MatchRequest>,
    viewOf: (requestId: string) => Promise<RequestView | null>,
  ): void {
    if (this.#watched.size === 0) return;
    for (const r of requests) {
      if (!this.#watched.has(r.userId)) continue;
      this.send(r.userId, viewOf(r.id));
      if (r.endedAt !== null) this.set(r.userId, false);
    }
  }

  /** Updates for one user leave in the order they were made, even when a view takes a call. */
  send(userId: string, view: RequestView | Promise<RequestView | null>): void {
    const previous = this.#sending.get(userId) ?? Promise.resolve();
    const sent = previous.then(async () => {
      const v = await view;
      if (v) await userActor(this.#env, this.#tenant, userId).requestUpdate(userId, v);
    });
    const tail = sent.catch(() => {
      // A channel that cannot be told misses one update; the next change sends the whole view.
    });
    this.#sending.set(userId, tail);
    void tail.then(() => {
      if (this.#sending.get(userId) === tail) this.#sending.delete(userId);
    });
  }
}

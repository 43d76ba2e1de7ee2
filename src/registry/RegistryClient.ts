import { registryShardAt } from "../actors.ts";
import type { Env } from "../env.ts";
import { withTimeout } from "../withTimeout.ts";
import type { ClaimResult } from "./claimRule.ts";
import type { Release, RequestRef } from "./RegistryShard.ts";
import { shardOf } from "./shardOf.ts";

type PendingClaim = RequestRef & { resolve: (r: ClaimResult) => void; reject: (e: unknown) => void };
type ShardQueue = {
  claims: PendingClaim[];
  releases: Release[];
  inFlight: boolean;
  /** Kept: `idFromName` hashes the name on every call. Dropped after a failed call. */
  stub: ReturnType<typeof registryShardAt> | undefined;
};

/** A shard call that has not answered by then fails its claims (their joins may be retried). */
const CALL_TIMEOUT_MS = 10_000;

/** Releases wait for a claim to the same shard to ride along with, up to this many. */
const RELEASES_PER_CALL = 256;

/**
 * A bucket's side of the registry: claims and releases go to each user's shard in batches, at
 * most one call in flight per shard. A lone join is sent at once; joins that arrive while a call
 * is out ride the next one together, so a burst costs a few calls per shard instead of one per
 * user, with no timer and no added wait. Releases are not on anyone's path: they wait for the
 * next claim to the same shard and go with it, so they cost no call of their own. A release that
 * never goes (this bucket is evicted first) or has not gone yet when the user joins elsewhere
 * leaves a stale claim, which the shard checks with this bucket before taking it over; that is
 * cheaper than a call per ended request (about 1 ms of runtime CPU per join).
 */
export class RegistryClient {
  readonly #env: Env;
  readonly #tenant: string;
  readonly #room: string;
  readonly #shards: number;
  readonly #queues = new Map<number, ShardQueue>();

  /** `room` is the bucket's actor name (tenant and room): what the shard calls it back by. */
  constructor(env: Env, tenant: string, room: string, shards: number) {
    this.#env = env;
    this.#tenant = tenant;
    this.#room = room;
    this.#shards = shards;
  }

  claim(userId: string, requestId: string): Promise<ClaimResult> {
    return new Promise((resolve, reject) => {
      const shard = shardOf(userId, this.#shards);
      this.#queue(shard).claims.push({ userId, requestId, resolve, reject });
      this.#flush(shard);
    });
  }

  /**
   * A release carrying recent partners (a match confirmed or declined) goes at once, batched
   * with whatever else waits for that shard: the rematch cooldown must hold wherever the user
   * joins next, and this is after the match, on nobody's join path.
   */
  release(userId: string, requestId: string, recent?: Record<string, number>): void {
    const shard = shardOf(userId, this.#shards);
    const q = this.#queue(shard);
    const partners = recent && Object.keys(recent).length > 0 ? recent : undefined;
    q.releases.push(partners ? { userId, requestId, recent: partners } : { userId, requestId });
    if (partners || q.releases.length >= RELEASES_PER_CALL) this.#flush(shard);
  }

  #queue(shard: number): ShardQueue {
    let q = this.#queues.get(shard);
    if (!q) {
      q = { claims: [], releases: [], inFlight: false, stub: undefined };
      this.#queues.set(shard, q);
    }
    return q;
  }

  #flush(shard: number): void {
    const q = this.#queue(shard);
    if (q.inFlight || (q.claims.length === 0 && q.releases.length === 0)) return;
    const claims = q.claims.splice(0);
    const releases = q.releases.splice(0);
    q.inFlight = true;
    // A call that throws at once, or never answers, must not hold this shard's joins for good.
    const call = Promise.resolve().then(() => {
      q.stub ??= registryShardAt(this.#env, this.#tenant, shard);
      return q.stub.sync(
        this.#room,
        claims.map(({ userId, requestId }) => ({ userId, requestId })),
        releases,
      );
    });
    withTimeout(
      call,
      CALL_TIMEOUT_MS,
      () => new Error(`no answer from the registry shard within ${CALL_TIMEOUT_MS} ms`),
    )
      .then(
        (results) => {
          for (const [i, c] of claims.entries()) c.resolve(results[i]!);
          return true;
        },
        (e: unknown) => {
          q.stub = undefined;
          for (const c of claims) c.reject(e);
          // Releases are idempotent at the shard, and those with partners carry the rematch
          // cooldown: they go again with the next call rather than being lost with this one.
          q.releases.unshift(...releases);
          return false;
        },
      )
      .then((answered) => {
        q.inFlight = false;
        // Claims that came meanwhile go now; releases only with them, or if they carry partners
        // (but not straight after a failure: they wait for the next claim then, not a busy loop).
        if (
          q.claims.length > 0 ||
          (answered &&
            (q.releases.length >= RELEASES_PER_CALL || q.releases.some((r) => r.recent !== undefined)))
        ) {
          this.#flush(shard);
        }
      });
  }
}

import { JoinRate } from "../matching/joinRate.ts";
import type { Acquaintances } from "../registry/claimRule.ts";
import type { RegistryClient } from "../registry/RegistryClient.ts";
import { liveElsewhere, maintenance, type Refusal, tooManyJoins, unavailable } from "./refusal.ts";

/**
 * Who may start a request in this bucket: the join rate here, and the user's one live request
 * across buckets, claimed in the registry before the request is created. A claim granted for a
 * join waits here until the join creates its request (a socket's claim is made before its
 * upgrade is accepted, its request when it connects). While a claim is out or waiting the user
 * counts as live here, so a shard checking with this bucket refuses a racing claim elsewhere.
 */
export class JoinGate {
  readonly #registry: RegistryClient;
  /** Whether the user has a live request here, with due deadlines applied first. */
  readonly #isLive: (userId: string) => boolean;
  /** Claims out to the registry, by user; a second join of the same user waits for it. */
  readonly #inFlight = new Map<string, Promise<void>>();
  /** Claims granted and not yet used, by user: the request id, and whom the user knows. */
  readonly #granted = new Map<string, Grant>();
  /** Block lists that changed while the user's claim was out: they win over the claim's. */
  readonly #blockedMeanwhile = new Map<string, string[]>();
  /** Joins per user here, new and resumed (a reconnect loop included); the shard counts too. */
  readonly #rate = new JoinRate();

  constructor(registry: RegistryClient, isLive: (userId: string) => boolean) {
    this.#registry = registry;
    this.#isLive = isLive;
  }

  /** Count one join (socket or HTTP) of the user; a refusal when it is one too many. */
  count(userId: string, now: number): Refusal | null {
    return this.#rate.allow(userId, now) ? null : tooManyJoins();
  }

  /** The user is joining right now, or holds a claim not yet used. */
  holds(userId: string): boolean {
    return this.#inFlight.has(userId) || this.#granted.has(userId);
  }

  /**
   * Make sure the user may have a live request here. Null when they have one (to resume) or a
   * granted claim waits (`take` it); otherwise a refusal (live elsewhere, rate, registry down).
   */
  async clear(userId: string): Promise<Refusal | null> {
    const inFlight = this.#inFlight.get(userId);
    if (inFlight) await inFlight;
    if (this.#isLive(userId) || this.#granted.has(userId)) return null;
    const requestId = `req_${crypto.randomUUID()}`;
    const claim = this.#registry.claim(userId, requestId);
    const settled = claim.then(
      () => {},
      () => {},
    );
    this.#inFlight.set(userId, settled);
    let result: Awaited<typeof claim>;
    try {
      result = await claim;
    } catch {
      return unavailable();
    } finally {
      if (this.#inFlight.get(userId) === settled) this.#inFlight.delete(userId);
    }
    const blocked = this.#blockedMeanwhile.get(userId);
    this.#blockedMeanwhile.delete(userId);
    if (result.ok) {
      this.#granted.set(userId, {
        requestId,
        blocked: blocked ?? result.blocked,
        recent: result.recent,
        watched: result.watched ?? false,
      });
      return null;
    }
    if (result.reason === "rate_limited") return tooManyJoins();
    if (result.reason === "maintenance") return maintenance();
    if (result.reason === "live_elsewhere") return liveElsewhere(result.room);
    return unavailable();
  }

  /** The claim granted for a new request of the user, used up by taking it. */
  take(userId: string): Grant | undefined {
    const grant = this.#granted.get(userId);
    this.#granted.delete(userId);
    return grant;
  }

  /** The request id of the claim waiting for the user, without taking it. */
  waiting(userId: string): string | undefined {
    return this.#granted.get(userId)?.requestId;
  }

  /**
   * The user's blocks changed while they are joining here: a grant not yet used, or a claim
   * still out, must not create the request with the list from before. True if one was updated.
   */
  updateBlocked(userId: string, blocked: string[]): boolean {
    const grant = this.#granted.get(userId);
    if (grant) grant.blocked = [...blocked];
    else if (this.#inFlight.has(userId)) this.#blockedMeanwhile.set(userId, [...blocked]);
    return grant !== undefined || this.#inFlight.has(userId);
  }

  /** Give back `requestId` if it still waits unused (its join never created the request). */
  giveBack(userId: string, requestId: string): void {
    if (this.#granted.get(userId)?.requestId !== requestId || this.#isLive(userId)) return;
    this.#granted.delete(userId);
    this.#registry.release(userId, requestId);
  }
}

/** A granted claim waiting for its join to create the request. */
export type Grant = { requestId: string } & Acquaintances;

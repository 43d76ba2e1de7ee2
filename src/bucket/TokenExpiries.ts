import type { Connection } from "partyserver";
import { CloseCode } from "../protocol/frames.ts";
import type { BucketStorage } from "./bucketStorage.ts";

/**
 * When the next socket's token expires, kept as one stored number rather than found by scanning
 * sockets: a join only lowers it, and the full scan happens when it is due.
 */
export class TokenExpiries {
  readonly #storage: BucketStorage;
  #at: number | null;

  constructor(storage: BucketStorage) {
    this.#storage = storage;
    this.#at = storage.tokenExpiryAt();
  }

  get at(): number | null {
    return this.#at;
  }

  /** A socket opened whose token expires at `expiresAt` (epoch ms; 0: never). */
  opened(expiresAt: number): void {
    if (expiresAt <= 0 || (this.#at !== null && expiresAt >= this.#at)) return;
    this.#at = expiresAt;
    this.#storage.setTokenExpiryAt(expiresAt);
  }

  /**
   * Close sockets whose token has expired (4001; the request keeps its reconnect grace, so a
   * client with a fresh token resumes), and find the next expiry in the same pass.
   */
  closeExpired<S extends { tokenExpiresAt: number }>(
    connections: Iterable<Connection<S>>,
    now: number,
  ): void {
    if (this.#at === null || this.#at > now) return;
    let earliest: number | null = null;
    for (const c of connections) {
      const exp = c.state?.tokenExpiresAt ?? 0;
      if (exp <= 0) continue;
      if (exp <= now) c.close(CloseCode.unauthorized, "token expired");
      else if (earliest === null || exp < earliest) earliest = exp;
    }
    this.#at = earliest;
    this.#storage.setTokenExpiryAt(earliest);
  }
}

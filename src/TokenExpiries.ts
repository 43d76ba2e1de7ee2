import type { Connection } from "partyserver";
import { CloseCode } from "./protocol/frames.ts";

/**
 * When the next socket's token expires, kept as one number rather than found by scanning
 * sockets: an opened socket only lowers it, and the full scan happens when it is due. `save`
 * keeps it where the owner wants it (a bucket stores it; a user's tabs are few enough to scan).
 */
export class TokenExpiries {
  readonly #save: (at: number | null) => void;
  #at: number | null;

  constructor(at: number | null, save: (at: number | null) => void = () => {}) {
    this.#at = at;
    this.#save = save;
  }

  get at(): number | null {
    return this.#at;
  }

  /** A socket opened whose token expires at `expiresAt` (epoch ms; 0: never). */
  opened(expiresAt: number): void {
    if (expiresAt <= 0 || (this.#at !== null && expiresAt >= this.#at)) return;
    this.#at = expiresAt;
    this.#save(expiresAt);
  }

  /**
   * Close sockets whose token has expired (4001; a bucket's request keeps its reconnect grace,
   * so a client with a fresh token resumes), and find the next expiry in the same pass.
   */
  closeExpired<S extends { tokenExpiresAt: number }>(
    connections: Iterable<Connection<S>>,
    now: number,
  ): void {
    if (this.#at === null || this.#at > now) return;
    this.#at = earliestAfter(connections, now, (c) => c.close(CloseCode.unauthorized, "token expired"));
    this.#save(this.#at);
  }
}

/** The earliest token expiry after `now` among `connections`; `expired` gets the others. */
export function earliestAfter<S extends { tokenExpiresAt: number }>(
  connections: Iterable<Connection<S>>,
  now: number,
  expired: (c: Connection<S>) => void = () => {},
): number | null {
  let earliest: number | null = null;
  for (const c of connections) {
    const exp = c.state?.tokenExpiresAt ?? 0;
    if (exp <= 0) continue;
    if (exp <= now) expired(c);
    else if (earliest === null || exp < earliest) earliest = exp;
  }
  return earliest;
}

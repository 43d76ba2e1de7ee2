import type { Connection } from "partyserver";
import type { UserFrame } from "../protocol/challenges.ts";
import { CloseCode } from "../protocol/frames.ts";

/** What a tab's socket remembers; serialized with it, so it survives hibernation. */
export type TabState = { tokenExpiresAt: number };

/**
 * The open tabs of a user's channel: pushing a frame to all of them, knowing when the first
 * opens and the last closes (the registry is told, so their bucket sends request updates), and
 * closing a tab whose token expired (4001, as a bucket's sockets: its client comes back with a
 * fresh token, and a stale token does not keep hearing the user's events).
 */
export class UserTabs {
  readonly #connections: () => Iterable<Connection<TabState>>;
  /** The earliest token expiry among open tabs; a user's tabs are few, so it is found again after hibernation. */
  #tokenExpiryAt: number | null;

  constructor(connections: () => Iterable<Connection<TabState>>) {
    this.#connections = connections;
    this.#tokenExpiryAt = this.#earliestTokenExpiry(0);
  }

  /** When a tab's token runs out next; null when none will. */
  get tokenExpiryAt(): number | null {
    return this.#tokenExpiryAt;
  }

  /** A tab opened; true if it is the only one (the channel just opened). */
  opened(connection: Connection<TabState>, tokenExpiresAt: number): boolean {
    connection.setState({ tokenExpiresAt });
    if (tokenExpiresAt > 0 && (this.#tokenExpiryAt === null || tokenExpiresAt < this.#tokenExpiryAt)) {
      this.#tokenExpiryAt = tokenExpiresAt;
    }
    return this.#count() === 1;
  }

  /** A tab closed; true if it was the last. */
  closed(): boolean {
    return this.#count() === 0;
  }

  push(frame: UserFrame): void {
    for (const c of this.#connections()) sendOn(c, frame);
  }

  closeExpired(now: number): void {
    for (const c of this.#connections()) {
      const exp = c.state?.tokenExpiresAt ?? 0;
      if (exp > 0 && exp <= now) c.close(CloseCode.unauthorized, "token expired");
    }
    this.#tokenExpiryAt = this.#earliestTokenExpiry(now);
  }

  #earliestTokenExpiry(after: number): number | null {
    let earliest: number | null = null;
    for (const c of this.#connections()) {
      const exp = c.state?.tokenExpiresAt ?? 0;
      if (exp > after && (earliest === null || exp < earliest)) earliest = exp;
    }
    return earliest;
  }

  #count(): number {
    let n = 0;
    for (const _ of this.#connections()) n++;
    return n;
  }
}

export function sendOn(connection: Connection, frame: UserFrame): void {
  try {
    connection.send(JSON.stringify(frame));
  } catch {
    // Closing under us: that tab is gone.
  }
}

import type { Connection } from "partyserver";
import type { UserFrame } from "../protocol/challenges.ts";
import { earliestAfter, TokenExpiries } from "../TokenExpiries.ts";

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
  /** A user's tabs are few, so the earliest expiry is found again after hibernation, not stored. */
  readonly #tokens: TokenExpiries;

  constructor(connections: () => Iterable<Connection<TabState>>) {
    this.#connections = connections;
    this.#tokens = new TokenExpiries(earliestAfter(connections(), 0));
  }

  /** When a tab's token runs out next; null when none will. */
  get tokenExpiryAt(): number | null {
    return this.#tokens.at;
  }

  /** A tab opened; true if it is the only one (the channel just opened). */
  opened(connection: Connection<TabState>, tokenExpiresAt: number): boolean {
    connection.setState({ tokenExpiresAt });
    this.#tokens.opened(tokenExpiresAt);
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
    this.#tokens.closeExpired(this.#connections(), now);
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

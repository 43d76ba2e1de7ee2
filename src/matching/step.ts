import type { MatchCancelReason, ServerFrame } from "../protocol/frames.ts";
import type { PeerMessage } from "./peerMessages.ts";
import type { Effect, Match, MatchRequest } from "./types.ts";

/**
 * What one transition decided: the rows it wrote (last version of each, in write order), and
 * the frames, closes and calls the adapter must perform. The actor persists `requests` and
 * `matches` together with its outbox in one storage transaction before performing `effects`.
 */
/** Something the operators count (`/metrics`, `/status`): what happened, not what it wrote. */
export type Tally =
  | { kind: "joined" }
  /** A match was proposed; how long each of the two had waited since their request was created. */
  | { kind: "proposed"; waitsMs: [number, number] }
  | { kind: "confirmed" }
  | { kind: "cancelled"; reason: MatchCancelReason }
  | { kind: "queue_timeout" }
  /** A home answered a guest bucket's ask for one of its requests (a repeated ask not counted). */
  | { kind: "handover"; granted: boolean };

export class Step {
  readonly effects: Effect[] = [];
  readonly tallies: Tally[] = [];
  readonly requests = new Map<string, MatchRequest>();
  readonly matches = new Map<string, Match>();

  send(userId: string, frame: ServerFrame): void {
    this.effects.push({ kind: "send", userId, frame });
  }

  close(userId: string, code: number, reason: string): void {
    this.effects.push({ kind: "close", userId, code, reason });
  }

  peer(room: string, message: PeerMessage): void {
    this.effects.push({ kind: "peer", room, message });
  }

  wroteRequest(r: MatchRequest): void {
    this.requests.set(r.id, {
      ...r,
      blocked: [...r.blocked],
      recent: { ...r.recent },
      also: [...r.also],
      away: r.away && { ...r.away },
    });
  }

  wroteMatch(m: Match): void {
    this.matches.set(m.id, {
      ...m,
      users: [...m.users],
      requests: [...m.requests],
      parts: [...m.parts],
      confirmed: [...m.confirmed],
    });
  }

  get wroteAnything(): boolean {
    return this.requests.size > 0 || this.matches.size > 0;
  }
}

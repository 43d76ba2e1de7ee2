import type { ServerFrame } from "../protocol/frames.ts";
import type { MatchRequest, RequestOutcome, RequestStatus } from "./types.ts";

/**
 * What buckets of one tenant say to each other about requests that wait in several of them
 * (docs/protocol.md, "waiting in several buckets"; the protocol is described in `handover.ts`). Plain data, so the
 * actor can keep undelivered messages in its storage and the tests can shuffle them.
 */

/** A user's action on their request, carried to the bucket that holds it (`disconnected`: the grace ran out). */
export type ClientCommand =
  | { type: "confirm"; matchId: string }
  | { type: "decline"; matchId: string }
  | { type: "leave"; disconnected?: boolean }
  | { type: "status" };

/** What a guest bucket knows of a request that also waits there: what pairing looks at. */
export type GuestEntry = Pick<
  MatchRequest,
  "id" | "userId" | "role" | "rating" | "blocked" | "recent" | "createdAt" | "expiresAt" | "epoch"
> & { home: string };

/** What happened to a guest entry that its home must follow. */
export type GuestChange =
  /** Proposed here: the home's request is MATCHED, in this room. */
  | { kind: "matched" }
  /** Ended here (confirmed, declined, timed out, left): so does the request. */
  | {
      kind: "ended";
      status: Extract<RequestStatus, "CONFIRMED" | "CANCELLED" | "TIMED_OUT">;
      outcome: RequestOutcome;
    }
  /** Its match here fell through and it survived: back to every bucket at its place. */
  | { kind: "returned" };

export type PeerMessage =
  /** Home -> guest: the request waits in your bucket too (or its data changed). */
  | { kind: "place"; entry: GuestEntry }
  /** Home -> guest: the request is not available any more (its `epoch` now); drop the entry. */
  | { kind: "withdraw"; requestId: string; epoch: number }
  /** Guest -> home: a hand-over granted for `pairId` is not used after all. */
  | { kind: "giveBack"; requestId: string; pairId: string }
  /** Guest -> home: frames for the user, and what happened to the request's entry here. */
  | {
      kind: "report";
      requestId: string;
      pairId: string;
      frames: ServerFrame[];
      close: { code: number; reason: string } | null;
      change: GuestChange | null;
      /** The entry's recent partners (a match here was confirmed or declined). */
      recent: Record<string, number>;
    }
  /** Home -> the bucket holding the request: the user acted on their home socket. */
  | { kind: "command"; requestId: string; userId: string; command: ClientCommand };

/**
 * A home's answer to "hand request X over for pair P". A refusal carries the home's epoch then
 * (null: the request has ended): an entry placed before that is stale, but one placed since (the
 * request came back meanwhile, which the asking bucket may hear of before this answer) is not.
 */
export type HandOverAnswer = { granted: true } | { granted: false; epoch: number | null };

import type { z } from "zod";
import type { MatchCancelReason, ServerFrame } from "../protocol/frames.ts";
import type { Bucket, partSchema, roleSchema } from "../protocol/values.ts";
import type { PeerMessage } from "./peerMessages.ts";

/** Contract statuses, used as-is by the HTTP API and the durable records. */
export type RequestStatus = "PENDING" | "MATCHED" | "CONFIRMED" | "CANCELLED" | "TIMED_OUT";

/** Why a request ended; stored with the record. */
export type RequestOutcome =
  | "confirmed"
  | "left"
  | "disconnected"
  | "declined"
  | "queue_timeout"
  | "confirm_timeout"
  /**
   * A guest entry left this bucket without the request ending: its home took it back (withdrawn,
   * or refused a hand-over), or it is going home after its match here fell through. Guest rows
   * never reach the records.
   */
  | "withdrawn";

/** What a request asks to play first (`either` fits anyone), and what a user plays in a match. */
export type Role = z.infer<typeof roleSchema>;
export type Part = z.infer<typeof partSchema>;

export interface MatchRequest {
  id: string;
  userId: string;
  role: Role;
  /** From the token's rating claim; null: unrated, fits any rating. */
  rating: number | null;
  /** Users this user has blocked, as known when the request was made (and updated since). */
  blocked: string[];
  /** Recent partners: user id -> when their match ended (confirmed or declined). */
  recent: Record<string, number>;
  /**
   * When this waiting request should be checked again because it becomes compatible with some
   * other waiting request by time alone (a rating window widens, a cooldown ends); null if none.
   */
  recheckAt: number | null;
  /** Queue order. Kept for life, so a request put back after a failed match keeps its place. */
  rank: number;
  status: RequestStatus;
  createdAt: number;
  /** When the queue timeout fires while PENDING. */
  expiresAt: number;
  /** Queue time left when it was matched: the queue clock pauses during confirmation. */
  pausedRemainingMs: number | null;
  matchId: string | null;
  /** Set while the user has no socket; the request is cancelled at this time unless resumed. */
  graceUntil: number | null;
  endedAt: number | null;
  outcome: RequestOutcome | null;
  /**
   * Null for a request this bucket owns (its home). A guest entry (the request also
   * waits here, see docs/protocol.md) names its home's room: the home decides whether it
   * may be paired here (`handover.ts`), and its user's frames go there.
   */
  home: string | null;
  /** Owned requests: the other rooms it waits in (`also`, then widened ones), home excluded. */
  also: string[];
  /** Owned requests asking to widen: when they do (null once done or never). */
  widenAt: number | null;
  /**
   * Owned: bumped whenever the request starts or stops being available to its guest buckets.
   * Guest: the owner's epoch when this entry was placed. Orders places, withdrawals and refusals.
   */
  epoch: number;
  /** Set while hand-overs are asked for a pair this request is held for (out of the queue). */
  holdFor: string | null;
  /** The other request of that pair (which may itself wait on in the queue: `pairing.ts`). */
  heldWith: string | null;
  /** Owned requests handed over to another bucket (status MATCHED here): where, for which pair. */
  away: { room: string; pairId: string } | null;
  /**
   * Owned requests lent to another bucket whose user left (or whose grace ran out): the leave
   * went there, but if the request comes back instead (its pair fell apart as the leave crossed
   * it), it ends here all the same.
   */
  leaving: "left" | "disconnected" | null;
  /** The room that paired it (its own room, or the guest bucket's), once paired. */
  room: string | null;
}

export type MatchStatus = "proposed" | "confirmed" | "cancelled";

export interface Match {
  id: string;
  users: [string, string];
  requests: [string, string];
  /** What each user plays first, in the order of `users`. */
  parts: [Part, Part];
  createdAt: number;
  confirmBy: number;
  /** Users who confirmed, in order. */
  confirmed: string[];
  /** Both confirmed and the question/collaboration services are being asked. */
  settingUp: boolean;
  status: MatchStatus;
  reason: MatchCancelReason | null;
  endedAt: number | null;
  questionId: string | null;
  collaborationSessionId: string | null;
}

export interface Settings {
  queueTimeoutMs: number;
  confirmTimeoutMs: number;
  reconnectGraceMs: number;
  /** Ask the question/collaboration services before `match_ready`. */
  orchestrate: boolean;
  /** Two users who were in a match together (confirmed, or declined) are not paired again for this long. */
  rematchCooldownMs: number;
  /** Two rated requests pair when their ratings differ by at most this... */
  ratingWindow: number;
  /** ...plus this much for every `ratingWidenMs` the older of the two has waited. */
  ratingWidenStep: number;
  ratingWidenMs: number;
  /** Requests asking to widen also wait in the neighbouring difficulties after this long. */
  widenAfterMs: number;
}

/** Who joins: everything about the user that pairing looks at, known when the request is made. */
export interface Profile {
  role: Role;
  rating: number | null;
  blocked: string[];
  recent: Record<string, number>;
  /** Other rooms to wait in too (canonical, home and duplicates removed, at most 3). */
  also?: string[];
  /** Also wait in the neighbouring difficulties after `widenAfterMs`. */
  widen?: boolean;
}

/** What a transition needs from the outside world, passed in so the core stays deterministic. */
export interface Clock {
  now: number;
  newId: (prefix: "req" | "mat") => string;
}

export type Effect =
  | { kind: "send"; userId: string; frame: ServerFrame }
  | { kind: "close"; userId: string; code: number; reason: string }
  /** Both confirmed: ask the question and collaboration services, then report back. */
  | { kind: "setup"; match: Match }
  /** A message to another bucket of the tenant (`handover.ts`), delivered in order per room. */
  | { kind: "peer"; room: string; message: PeerMessage }
  /** Ask a request's home to hand it over for a pair held here; the answer goes to `handOverAnswered`. */
  | { kind: "ask"; home: string; requestId: string; pairId: string };

export type { Bucket };

import type { z } from "zod";
import type { MatchCancelReason, ServerFrame } from "../protocol/frames.ts";
import type { Bucket, partSchema, roleSchema } from "../protocol/values.ts";

/** Contract statuses, used as-is by the HTTP API and the durable records. */
export type RequestStatus = "PENDING" | "MATCHED" | "CONFIRMED" | "CANCELLED" | "TIMED_OUT";

/** Why a request ended; stored with the record. */
export type RequestOutcome =
  | "confirmed"
  | "left"
  | "disconnected"
  | "declined"
  | "queue_timeout"
  | "confirm_timeout";

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
}

/** Who joins: everything about the user that pairing looks at, known when the request is made. */
export interface Profile {
  role: Role;
  rating: number | null;
  blocked: string[];
  recent: Record<string, number>;
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
  | { kind: "setup"; match: Match };

export type { Bucket };

import type { MatchCancelReason, ServerFrame } from "../protocol/frames.ts";
import type { Bucket } from "../protocol/values.ts";

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

export interface MatchRequest {
  id: string;
  userId: string;
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

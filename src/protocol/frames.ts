import { z } from "zod";
import { difficultySchema, matchIdSchema, partSchema } from "./values.ts";

/**
 * The WebSocket protocol, one schema per frame. The server, the client SDK and the tests all
 * import these, so a frame that validates here is a frame every side understands.
 */

const iso = z.iso.datetime();
const bucketFields = { difficulty: difficultySchema, topic: z.string() };

export const queuedFrame = z.object({
  type: z.literal("queued"),
  requestId: z.string(),
  ...bucketFields,
  position: z.number().int().min(1),
  waiting: z.number().int().min(0),
  estimatedWaitMs: z.number().int().min(0).nullable(),
  expiresAt: iso,
  /** Rooms the request waits in now, home first (docs/protocol.md, "waiting in several buckets"). */
  buckets: z.array(z.string()).min(1),
});

export const matchFoundFrame = z.object({
  type: z.literal("match_found"),
  matchId: z.string(),
  partnerId: z.string(),
  ...bucketFields,
  /** What this user plays first: one interviewer and one interviewee per match. */
  role: partSchema,
  confirmBy: iso,
  /** The bucket that paired it; `difficulty` and `topic` are that bucket's. */
  room: z.string(),
});

export const partnerConfirmedFrame = z.object({ type: z.literal("partner_confirmed"), matchId: z.string() });

export const matchReadyFrame = z.object({
  type: z.literal("match_ready"),
  matchId: z.string(),
  partnerId: z.string(),
  ...bucketFields,
  role: partSchema,
  questionId: z.string().nullable(),
  collaborationSessionId: z.string().nullable(),
});

export const matchCancelReasonSchema = z.enum([
  "partner_declined",
  "partner_timeout",
  "partner_left",
  "declined",
  "confirm_timeout",
  "setup_failed",
]);
export type MatchCancelReason = z.infer<typeof matchCancelReasonSchema>;

export const matchCancelledFrame = z.object({
  type: z.literal("match_cancelled"),
  matchId: z.string(),
  reason: matchCancelReasonSchema,
});

export const timeoutFrame = z.object({ type: z.literal("timeout"), requestId: z.string() });
export const cancelledFrame = z.object({ type: z.literal("cancelled"), requestId: z.string() });

export const errorCodeSchema = z.enum([
  "invalid_frame",
  "frame_too_large",
  "unknown_match",
  "not_in_match",
  "no_live_request",
  "already_queued",
  "rate_limited",
  "maintenance",
  /** The join could not be taken right now (a registry shard did not answer); close 1011, retry. */
  "unavailable",
  /** `resume=` named a request the caller never had (or long gone); close 4404. */
  "request_not_found",
]);
export type ErrorCode = z.infer<typeof errorCodeSchema>;

export const errorFrame = z.object({ type: z.literal("error"), code: errorCodeSchema, message: z.string() });
export const pongFrame = z.object({ type: z.literal("pong") });

export const serverFrameSchema = z.discriminatedUnion("type", [
  queuedFrame,
  matchFoundFrame,
  partnerConfirmedFrame,
  matchReadyFrame,
  matchCancelledFrame,
  timeoutFrame,
  cancelledFrame,
  errorFrame,
  pongFrame,
]);
export type ServerFrame = z.infer<typeof serverFrameSchema>;
export type ServerFrameOf<T extends ServerFrame["type"]> = Extract<ServerFrame, { type: T }>;

export const clientFrameSchema = z.discriminatedUnion("type", [
  z.object({ type: z.literal("confirm"), matchId: matchIdSchema }).strict(),
  z.object({ type: z.literal("decline"), matchId: matchIdSchema }).strict(),
  z.object({ type: z.literal("leave") }).strict(),
  z.object({ type: z.literal("status") }).strict(),
  z.object({ type: z.literal("ping") }).strict(),
]);
export type ClientFrame = z.infer<typeof clientFrameSchema>;

/** Frames larger than this are refused unread: every legitimate client frame is tiny. */
export const MAX_CLIENT_FRAME_BYTES = 1024;

/** A client's frame as read off the socket: the frame, or the `error` frame that answers it. */
export function readClientFrame(
  message: string | ArrayBuffer | ArrayBufferView,
): { ok: true; frame: ClientFrame } | { ok: false; code: ErrorCode; message: string } {
  const size = typeof message === "string" ? message.length : message.byteLength;
  if (size > MAX_CLIENT_FRAME_BYTES) {
    return {
      ok: false,
      code: "frame_too_large",
      message: `Frames are limited to ${MAX_CLIENT_FRAME_BYTES} bytes.`,
    };
  }
  let json: unknown;
  try {
    json = JSON.parse(typeof message === "string" ? message : new TextDecoder().decode(message));
  } catch {
    return { ok: false, code: "invalid_frame", message: "Frames must be JSON objects with a `type`." };
  }
  const parsed = clientFrameSchema.safeParse(json);
  if (!parsed.success) {
    const detail = parsed.error.issues[0];
    const where = detail?.path.length ? ` at ${detail.path.join(".")}` : "";
    return {
      ok: false,
      code: "invalid_frame",
      message: `Invalid frame${where}: ${detail?.message ?? "unknown"}.`,
    };
  }
  return { ok: true, frame: parsed.data };
}

/** Close codes the server uses, named once. */
export const CloseCode = {
  normal: 1000,
  /** Standard "try again later": maintenance. */
  tryAgainLater: 1013,
  unauthorized: 4001,
  queueTimeout: 4008,
  replaced: 4009,
  rateLimited: 4029,
  alreadyQueuedElsewhere: 4409,
  /** `resume=` named no request of the caller's. */
  requestNotFound: 4404,
  /** The user's own channel opened by someone else (the router refuses with 403 before this). */
  forbidden: 4003,
} as const;

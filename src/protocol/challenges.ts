import { z } from "zod";
import { pongFrame } from "./frames.ts";
import { type RequestView, requestView } from "./http.ts";
import { difficultySchema, partSchema, roleSchema, topicSchema } from "./values.ts";

/**
 * Challenges and the user's own channel (docs/protocol.md, "Challenges" and "The user's own
 * channel"): bodies, answers and frames, shared by the router, the owning
 * Durable Object, the SDK and the tests.
 */

const iso = z.iso.datetime();

export const challengeIdSchema = z.string().regex(/^chl_[A-Za-z0-9-]{8,64}$/, "is not a challenge id");

export const createChallengeBody = z.object({
  opponentId: z.string().min(1, "must not be empty").max(128, "must be at most 128 characters"),
  difficulty: difficultySchema,
  topic: topicSchema,
  /** What the challenger plays first; the opponent plays the other part. */
  role: roleSchema.default("either"),
});
export type CreateChallengeBody = z.infer<typeof createChallengeBody>;

export const challengeStatusSchema = z.enum(["PENDING", "ACCEPTED", "DECLINED", "CANCELLED", "EXPIRED"]);

export const challengeView = z.object({
  id: challengeIdSchema,
  challengerId: z.string(),
  opponentId: z.string(),
  difficulty: difficultySchema,
  topic: z.string(),
  role: roleSchema,
  status: challengeStatusSchema,
  createdAt: iso,
  expiresAt: iso,
  /** Set once accepted. */
  matchId: z.string().nullable(),
});
export type ChallengeView = z.infer<typeof challengeView>;

/** `GET /challenges/incoming` and `/outgoing`: a bare list, newest first (as the protocol has it). */
export const challengeListAnswer = z.array(challengeView);

/** `POST /challenges/{id}/accept`: the `POST /confirm` answer, plus the opponent's part. */
export const acceptChallengeAnswer = z.object({
  match_id: z.string(),
  partner_id: z.string(),
  question_id: z.string().nullable(),
  collaboration_session_id: z.string().nullable(),
  role: partSchema,
});
export type AcceptChallengeAnswer = z.infer<typeof acceptChallengeAnswer>;

/** The match an accepted challenge made, from the receiving user's side (as `match_ready`). */
export const challengeMatch = z.object({
  matchId: z.string(),
  partnerId: z.string(),
  difficulty: difficultySchema,
  topic: z.string(),
  role: partSchema,
  questionId: z.string().nullable(),
  collaborationSessionId: z.string().nullable(),
});
export type ChallengeMatch = z.infer<typeof challengeMatch>;

// ---- The user's channel: /parties/user/{userId} ----

export const challengeReceivedFrame = z.object({
  type: z.literal("challenge_received"),
  challenge: challengeView,
});
/**
 * The contract says this frame comes "with the match fields" and `request_update` with "the
 * request view", which a client may read as nested or as the frame's own fields: both are sent
 * (build them with `challengeAccepted` and `requestUpdate`).
 */
export const challengeAcceptedFrame = z.object({
  type: z.literal("challenge_accepted"),
  challenge: challengeView,
  match: challengeMatch,
  ...challengeMatch.shape,
});
export const challengeDeclinedFrame = z.object({
  type: z.literal("challenge_declined"),
  challenge: challengeView,
});
export const challengeCancelledFrame = z.object({
  type: z.literal("challenge_cancelled"),
  challenge: challengeView,
});
export const challengeExpiredFrame = z.object({
  type: z.literal("challenge_expired"),
  challenge: challengeView,
});
/** The caller's request, as `GET /request/{id}` shows it, whenever it changes. */
export const requestUpdateFrame = z.object({
  type: z.literal("request_update"),
  request: requestView,
  ...requestView.shape,
});

export function challengeAccepted(
  challenge: ChallengeView,
  match: ChallengeMatch,
): UserFrameOf<"challenge_accepted"> {
  return { type: "challenge_accepted", challenge, match, ...match };
}

export function requestUpdate(request: RequestView): UserFrameOf<"request_update"> {
  return { type: "request_update", request, ...request };
}

export const userFrameSchema = z.discriminatedUnion("type", [
  challengeReceivedFrame,
  challengeAcceptedFrame,
  challengeDeclinedFrame,
  challengeCancelledFrame,
  challengeExpiredFrame,
  requestUpdateFrame,
  pongFrame,
]);
export type UserFrame = z.infer<typeof userFrameSchema>;
export type UserFrameOf<T extends UserFrame["type"]> = Extract<UserFrame, { type: T }>;

/** The channel only listens for `ping` (the SDK's first frame, see docs/architecture.md, "Closes"). */
export const userClientFrameSchema = z.object({ type: z.literal("ping") }).strict();

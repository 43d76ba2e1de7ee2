import { z } from "zod";
import { MAX_ALSO, MAX_ALSO_LISTED } from "./flexible.ts";
import { matchCancelReasonSchema } from "./frames.ts";
import { difficultySchema, partSchema, roleSchema, topicSchema } from "./values.ts";

/**
 * The HTTP API's bodies and answers, compatible with PeerPrep's matching service. Routes
 * validate with these, the OpenAPI document is generated from them, and tests parse with them.
 */

const iso = z.iso.datetime();

export const createRequestBody = z.object({
  difficulty: difficultySchema,
  topic: topicSchema,
  /** What the user wants to play first; `either` (the default) fits anyone. */
  role: roleSchema.default("either"),
  /**
   * Up to 3 more buckets to wait in at once (docs/protocol.md, "waiting in several buckets"), counted once the
   * home and duplicates are dropped (`alsoRooms`); the list itself is bounded here.
   */
  also: z
    .array(z.object({ difficulty: difficultySchema, topic: topicSchema }))
    .max(MAX_ALSO_LISTED, `lists at most ${MAX_ALSO} more buckets`)
    .default([]),
  /** Also wait in the neighbouring difficulties after WIDEN_AFTER_SECONDS. */
  widen: z.boolean().default(false),
});

/**
 * Ids are opaque to clients: any id that is not one of theirs, well-formed or not, is a 404
 * (PeerPrep's clients send bare UUIDs). Only a value that is no id at all is a 400.
 */
export const confirmBody = z.object({ match_id: z.string().min(1).max(128), confirmed: z.boolean() });

export const requestStatusSchema = z.enum(["PENDING", "MATCHED", "CONFIRMED", "CANCELLED", "TIMED_OUT"]);

export const requestMatchView = z.object({
  id: z.string(),
  partnerId: z.string(),
  /** What the caller plays first in this match. */
  role: partSchema,
  status: z.enum(["proposed", "confirmed", "cancelled"]),
  confirmBy: iso,
  youConfirmed: z.boolean(),
  partnerConfirmed: z.boolean(),
  reason: z.string().nullable(),
  questionId: z.string().nullable(),
  collaborationSessionId: z.string().nullable(),
});

export const requestView = z.object({
  id: z.string(),
  userId: z.string(),
  difficulty: difficultySchema,
  topic: z.string(),
  /** What the request asked to play first. */
  role: roleSchema,
  /** The rating the request is paired by (from the token), or null when unrated. */
  rating: z.number().nullable(),
  status: requestStatusSchema,
  /** 1-based place in the queue while PENDING, else null. */
  position: z.number().int().min(1).nullable(),
  createdAt: iso,
  expiresAt: iso,
  endedAt: iso.nullable(),
  outcome: z.string().nullable(),
  /** Rooms the request waits in (home first); while matched, where it waited. */
  buckets: z.array(z.string()).min(1),
  /** The bucket that paired it (its `difficulty` and `topic` are then that bucket's), or null. */
  room: z.string().nullable(),
  match: requestMatchView.nullable(),
});
export type RequestView = z.infer<typeof requestView>;

export const confirmedAnswer = z.object({
  match_id: z.string(),
  partner_id: z.string(),
  question_id: z.string().nullable(),
  collaboration_session_id: z.string().nullable(),
});
export const waitingAnswer = z.object({ detail: z.string() });
export const cancelledAnswer = z.object({ message: z.string() });

export const queueFigures = z.object({
  difficulty: difficultySchema,
  topic: z.string(),
  waiting: z.number().int().min(0),
  p50WaitMs: z.number().int().nullable(),
  p90WaitMs: z.number().int().nullable(),
  matchedLastHour: z.number().int().min(0),
});
export type QueueFigures = z.infer<typeof queueFigures>;

export const healthAnswer = z.object({
  status: z.enum(["ok", "degraded"]),
  db: z.enum(["up", "down"]),
  version: z.string(),
});

export const errorAnswer = z.object({
  error: z.object({ code: z.string(), message: z.string(), details: z.array(z.unknown()).optional() }),
});

/** A user id in a path (`/me/blocks/{userId}`): the same bounds as a token's user claim. */
export const userIdSchema = z.string().min(1, "must not be empty").max(128, "must be at most 128 characters");

export const blockListAnswer = z.object({
  blocked: z.array(z.object({ userId: z.string(), since: iso })),
});

// ---- Operations (docs/operations.md) ----

export const statusAnswer = z.object({
  status: z.enum(["ok", "degraded"]),
  version: z.string(),
  db: z.enum(["up", "down"]),
  /** Whether new requests are refused (the default tenant's switch). */
  maintenance: z.boolean(),
  buckets: z.object({
    /** Buckets with a live request (waiting or in a proposed match). */
    active: z.number().int().min(0),
    /** Requests waiting in a queue now. */
    waiting: z.number().int().min(0),
  }),
  matchesLastHour: z.number().int().min(0),
});

/** One entry per active bucket, as the contract lists them (busiest first). */
export const queueSummaryAnswer = z.array(
  z.object({
    room: z.string(),
    waiting: z.number().int().min(0),
    p50WaitMs: z.number().int().nullable(),
    p95WaitMs: z.number().int().nullable(),
    matchedLastHour: z.number().int().min(0),
  }),
);

export const maintenanceBody = z.object({ on: z.boolean() }).strict();

export const maintenanceAnswer = z.object({
  on: z.boolean(),
  /** When it was last switched at runtime; null while it is as deployed (`MAINTENANCE`). */
  since: iso.nullable(),
});

const count = z.number().int().min(0);

/** The admin's tenant over the last hour, minute by minute: what the dashboard's charts draw. */
export const activityAnswer = z.object({
  /** The first and the current minute of the hour. */
  from: iso,
  to: iso,
  /** Sixty entries, oldest first; a quiet minute is all zeros. */
  minutes: z.array(
    z.object({
      at: iso,
      /** Matches proposed (partners found) in the minute, then how many were confirmed or fell through. */
      proposed: count,
      confirmed: count,
      cancelled: count,
      queueTimeouts: count,
    }),
  ),
  /** Waits from joining to `match_found` in the hour, by bucket: `counts[i]` waited at most `leSeconds[i]` (null: longer than the rest) and more than the bucket before. */
  waits: z.object({ leSeconds: z.array(z.number().nullable()), counts: z.array(count) }),
  /** Proposed matches that fell through in the hour, by reason. */
  cancellations: z.partialRecord(matchCancelReasonSchema, count),
  queueTimeouts: count,
  /** Flexible requests: asks by one bucket for a request that also waits in another, by answer. */
  handOvers: z.object({ granted: count, refused: count }),
});

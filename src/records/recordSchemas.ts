import { z } from "zod";
import { difficultySchema, partSchema, roleSchema } from "../protocol/values.ts";

/**
 * Shapes of the durable records: what arrives from a bucket actor's outbox (validated before it
 * is written), and what the history endpoints answer (camelCase, ISO-8601 UTC times).
 */

// ---- Outbox bodies (the core's MatchRequest / Match as JSON; extra fields are ignored) ----
// Fields added since the first release are optional: an outbox may still hold rows written by
// the actor's previous version, and those are stored with the field null rather than skipped.

const epochMs = z.number().int().nonnegative();

/** Rows of a challenge's match name their bucket (a bucket's own rows are that bucket's). */
const ownBucket = { difficulty: difficultySchema.optional(), topic: z.string().min(1).optional() };

export const outboxRequestSchema = z.object({
  id: z.string().min(1),
  userId: z.string().min(1),
  status: z.enum(["PENDING", "MATCHED", "CONFIRMED", "CANCELLED", "TIMED_OUT"]),
  createdAt: epochMs,
  endedAt: epochMs.nullable(),
  outcome: z.string().nullable(),
  matchId: z.string().nullable(),
  role: roleSchema.optional(),
  rating: z.number().nullable().optional(),
  ...ownBucket,
});

export const outboxMatchSchema = z.object({
  id: z.string().min(1),
  users: z.tuple([z.string().min(1), z.string().min(1)]),
  requests: z.tuple([z.string().min(1), z.string().min(1)]),
  createdAt: epochMs,
  status: z.enum(["proposed", "confirmed", "cancelled"]),
  reason: z.string().nullable(),
  endedAt: epochMs.nullable(),
  questionId: z.string().nullable(),
  collaborationSessionId: z.string().nullable(),
  /**
   * What `users[0]`, `users[1]` play first. Not checked for one of each: the record keeps what
   * the actor decided, and skipping the whole match over it would lose more than it guards.
   */
  parts: z.tuple([partSchema, partSchema]).optional(),
  ...ownBucket,
});

// ---- HTTP responses ----

const isoTime = z.iso.datetime();

/** One match as a participant sees it: `GET /matches/{id}` and each item of `GET /me/matches`. */
export const matchRecordSchema = z.object({
  id: z.string(),
  difficulty: z.string(),
  topic: z.string(),
  /** proposed | confirmed | cancelled */
  status: z.enum(["proposed", "confirmed", "cancelled"]),
  /** Both participants, in the order they were paired (oldest request first). */
  userIds: z.tuple([z.string(), z.string()]),
  /** The other participant, from the caller's point of view. */
  partnerId: z.string(),
  /** The caller's own request that this match came from. */
  requestId: z.string(),
  /** What the caller plays first; null for matches recorded before roles existed. */
  role: partSchema.nullable(),
  /** What the partner plays first; null likewise. */
  partnerRole: partSchema.nullable(),
  createdAt: isoTime,
  confirmedAt: isoTime.nullable(),
  cancelledAt: isoTime.nullable(),
  /** Why a cancelled match fell through, e.g. `declined`, `confirm_timeout`; null otherwise. */
  reason: z.string().nullable(),
  questionId: z.string().nullable(),
  collaborationSessionId: z.string().nullable(),
});
export type MatchRecord = z.infer<typeof matchRecordSchema>;

/** `GET /me/matches`: newest first; pass `nextCursor` back as `?cursor=` for the next page. */
export const matchHistorySchema = z.object({
  matches: z.array(matchRecordSchema),
  nextCursor: z.string().nullable(),
});
export type MatchHistory = z.infer<typeof matchHistorySchema>;

export const popularTopicSchema = z.object({
  topic: z.string(),
  /** Matches created in the window, any difficulty. */
  matches: z.number().int().nonnegative(),
  byDifficulty: z.object({
    easy: z.number().int().nonnegative(),
    medium: z.number().int().nonnegative(),
    hard: z.number().int().nonnegative(),
  }),
});
export type PopularTopic = z.infer<typeof popularTopicSchema>;

/** `GET /topics/popular`: topics ranked by matches created since `since` (ties by name). */
export const popularTopicsSchema = z.object({
  since: isoTime,
  hours: z.number().int().positive(),
  topics: z.array(popularTopicSchema),
});
export type PopularTopics = z.infer<typeof popularTopicsSchema>;

import { bigint, doublePrecision, index, pgTable, text, timestamp } from "drizzle-orm/pg-core";
import type { Part, Role } from "../matching/types.ts";

/**
 * The durable record of every match and every request's outcome. Rows arrive from the actors'
 * outboxes as idempotent upserts keyed by these ids, so a retried delivery never adds a row; live
 * state is the actors', never read back from here on the matching path.
 *
 * `version` is the number the actor gave the write that produced the row as stored. A row lives
 * in exactly one actor, whose numbers only grow, so it orders every version of a row: an upsert
 * applies only when its version is newer, so a retried or late (older) delivery never moves a
 * row backwards.
 *
 * Roles and ratings came later: rows recorded before have them null, so they stay nullable.
 */

/** See the note above: the actor's number for the newest version written. */
const version = () => bigint("version", { mode: "number" }).notNull().default(0);

/** Every row belongs to one tenant (docs/operations.md, "Tenants"); rows from before tenants are the default's. */
const tenantId = () => text("tenant_id").notNull().default("default");

export const matchRequests = pgTable(
  "match_requests",
  {
    id: text("id").primaryKey(),
    tenantId: tenantId(),
    userId: text("user_id").notNull(),
    bucket: text("bucket").notNull(),
    difficulty: text("difficulty").notNull(),
    topic: text("topic").notNull(),
    /** PENDING | MATCHED | CONFIRMED | CANCELLED | TIMED_OUT */
    status: text("status").notNull(),
    createdAt: timestamp("created_at", { withTimezone: true, mode: "date" }).notNull(),
    endedAt: timestamp("ended_at", { withTimezone: true, mode: "date" }),
    /** Why it ended, e.g. `confirmed`, `left`, `queue_timeout`, `confirm_timeout`. */
    outcome: text("outcome"),
    matchId: text("match_id"),
    /** What the request asked to play first: interviewer | interviewee | either. */
    role: text("role").$type<Role>(),
    /** The user's rating from their token; null when unrated. */
    rating: doublePrecision("rating"),
    version: version(),
  },
  (t) => [index("match_requests_user_created_idx").on(t.tenantId, t.userId, t.createdAt)],
);

export const matches = pgTable(
  "matches",
  {
    id: text("id").primaryKey(),
    tenantId: tenantId(),
    bucket: text("bucket").notNull(),
    difficulty: text("difficulty").notNull(),
    topic: text("topic").notNull(),
    userA: text("user_a").notNull(),
    userB: text("user_b").notNull(),
    /** What user_a / user_b play first: interviewer | interviewee, one of each. */
    roleA: text("role_a").$type<Part>(),
    roleB: text("role_b").$type<Part>(),
    requestA: text("request_a").notNull(),
    requestB: text("request_b").notNull(),
    /** proposed | confirmed | cancelled */
    status: text("status").notNull(),
    createdAt: timestamp("created_at", { withTimezone: true, mode: "date" }).notNull(),
    confirmedAt: timestamp("confirmed_at", { withTimezone: true, mode: "date" }),
    cancelledAt: timestamp("cancelled_at", { withTimezone: true, mode: "date" }),
    reason: text("reason"),
    questionId: text("question_id"),
    collaborationSessionId: text("collaboration_session_id"),
    version: version(),
  },
  (t) => [
    // History by user, newest first: one index per side, scanned with a union. `id` breaks ties
    // in the (created_at, id) keyset the history cursor pages by, so a page is one index range.
    index("matches_user_a_created_idx").on(t.tenantId, t.userA, t.createdAt, t.id),
    index("matches_user_b_created_idx").on(t.tenantId, t.userB, t.createdAt, t.id),
    // Popular topics over a recent time window, per tenant.
    index("matches_created_topic_idx").on(t.tenantId, t.createdAt, t.topic),
  ],
);

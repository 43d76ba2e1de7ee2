import { and, asc, desc, eq, gte, lt, ne, or, type SQL, sql } from "drizzle-orm";
import { unionAll } from "drizzle-orm/pg-core";
import type { Database } from "../db/connect.ts";
import { matches } from "../db/schema.ts";
import { DEFAULT_TENANT } from "../tenancy.ts";
import type { MatchHistory, MatchRecord, PopularTopic } from "./recordSchemas.ts";

/** Read side of the durable records, behind `GET /matches/{id}`, `/me/matches`, `/topics/popular`. */

export const HISTORY_MAX_LIMIT = 100;
export const POPULAR_MAX_LIMIT = 50;

type MatchRow = typeof matches.$inferSelect;

/** A `?cursor=` that this service did not hand out (or that was altered). */
export class InvalidCursorError extends Error {
  constructor() {
    super("The cursor is not one this service handed out; start again without it.");
    this.name = "InvalidCursorError";
  }
}

/** The match, if it exists and `userId` took part in it; null otherwise (never tells which). */
export async function findMatchFor(
  db: Database,
  matchId: string,
  userId: string,
  tenant: string = DEFAULT_TENANT,
): Promise<MatchRecord | null> {
  const [row] = await db
    .select()
    .from(matches)
    .where(
      and(
        eq(matches.id, matchId),
        eq(matches.tenantId, tenant),
        or(eq(matches.userA, userId), eq(matches.userB, userId)),
      ),
    )
    .limit(1);
  return row ? toRecord(row, userId) : null;
}

/**
 * The user's matches, newest first, `limit` at a time. Pages by keyset on (created_at, id), so a
 * match recorded while someone pages never shifts or repeats a later page. Each side of the
 * pairing has its own index; the two ranges are read with a union and merged.
 */
export async function matchHistory(
  db: Database,
  userId: string,
  {
    limit,
    cursor,
    tenant = DEFAULT_TENANT,
  }: { limit: number; cursor?: string | null | undefined; tenant?: string },
): Promise<MatchHistory> {
  const n = Math.min(Math.max(Math.trunc(limit), 1), HISTORY_MAX_LIMIT);
  const after = cursor ? decodeCursor(cursor) : null;
  const before = (): SQL | undefined =>
    after
      ? sql`(${matches.createdAt}, ${matches.id}) < (${after.createdAt}::timestamptz, ${after.id})`
      : undefined;
  const side = (filter: SQL | undefined) =>
    db
      .select()
      .from(matches)
      .where(and(filter, before()))
      .orderBy(desc(matches.createdAt), desc(matches.id))
      .limit(n + 1);
  const rows = await unionAll(
    side(and(eq(matches.tenantId, tenant), eq(matches.userA, userId))),
    // A user is never paired with themselves; the guard keeps even a bad row from appearing twice.
    side(and(eq(matches.tenantId, tenant), eq(matches.userB, userId), ne(matches.userA, userId))),
  )
    .orderBy(desc(matches.createdAt), desc(matches.id))
    .limit(n + 1);
  const page = rows.slice(0, n);
  const last = page[page.length - 1];
  return {
    matches: page.map((row) => toRecord(row, userId)),
    nextCursor: rows.length > n && last ? encodeCursor(last.createdAt, last.id) : null,
  };
}

/**
 * Topics ranked by matches created in [sinceMs, untilMs) (until: now, when omitted), with each
 * topic's count per difficulty; ties go alphabetically. One range scan of matches_created_topic_idx.
 */
export async function popularTopics(
  db: Database,
  {
    sinceMs,
    untilMs,
    limit,
    tenant = DEFAULT_TENANT,
  }: { sinceMs: number; untilMs?: number | undefined; limit: number; tenant?: string },
): Promise<PopularTopic[]> {
  const n = Math.min(Math.max(Math.trunc(limit), 1), POPULAR_MAX_LIMIT);
  const count = sql<number>`count(*)::int`;
  const of = (difficulty: string) =>
    sql<number>`(count(*) filter (where ${matches.difficulty} = ${difficulty}))::int`;
  const rows = await db
    .select({
      topic: matches.topic,
      matches: count,
      easy: of("easy"),
      medium: of("medium"),
      hard: of("hard"),
    })
    .from(matches)
    .where(
      and(
        eq(matches.tenantId, tenant),
        gte(matches.createdAt, new Date(sinceMs)),
        untilMs === undefined ? undefined : lt(matches.createdAt, new Date(untilMs)),
      ),
    )
    .groupBy(matches.topic)
    .orderBy(desc(sql`count(*)`), asc(matches.topic))
    .limit(n);
  return rows.map((r) => ({
    topic: r.topic,
    matches: Number(r.matches),
    byDifficulty: { easy: Number(r.easy), medium: Number(r.medium), hard: Number(r.hard) },
  }));
}

function toRecord(row: MatchRow, viewer: string): MatchRecord {
  const viewerIsA = row.userA === viewer;
  return {
    id: row.id,
    difficulty: row.difficulty,
    topic: row.topic,
    status: row.status as MatchRecord["status"],
    userIds: [row.userA, row.userB],
    partnerId: viewerIsA ? row.userB : row.userA,
    requestId: viewerIsA ? row.requestA : row.requestB,
    role: viewerIsA ? row.roleA : row.roleB,
    partnerRole: viewerIsA ? row.roleB : row.roleA,
    createdAt: row.createdAt.toISOString(),
    confirmedAt: row.confirmedAt?.toISOString() ?? null,
    cancelledAt: row.cancelledAt?.toISOString() ?? null,
    reason: row.reason,
    questionId: row.questionId,
    collaborationSessionId: row.collaborationSessionId,
  };
}

// ---- Cursor: base64url of JSON [createdAt ISO, id]. Opaque to clients. ----

export function encodeCursor(createdAt: Date, id: string): string {
  const bytes = new TextEncoder().encode(JSON.stringify([createdAt.toISOString(), id]));
  let binary = "";
  for (const b of bytes) binary += String.fromCharCode(b);
  return btoa(binary).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
}

export function decodeCursor(cursor: string): { createdAt: string; id: string } {
  if (!/^[A-Za-z0-9_-]{1,400}$/.test(cursor)) throw new InvalidCursorError();
  try {
    const binary = atob(cursor.replace(/-/g, "+").replace(/_/g, "/"));
    const bytes = Uint8Array.from(binary, (ch) => ch.charCodeAt(0));
    const value: unknown = JSON.parse(new TextDecoder().decode(bytes));
    if (
      Array.isArray(value) &&
      value.length === 2 &&
      typeof value[0] === "string" &&
      typeof value[1] === "string" &&
      value[1].length > 0 &&
      !Number.isNaN(Date.parse(value[0])) &&
      /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?Z$/.test(value[0])
    ) {
      return { createdAt: value[0], id: value[1] };
    }
  } catch {
    // fall through
  }
  throw new InvalidCursorError();
}

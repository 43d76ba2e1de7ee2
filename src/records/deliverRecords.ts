import { getTableColumns, type SQL, sql } from "drizzle-orm";
import type { PgTable } from "drizzle-orm/pg-core";
import type { Database } from "../db/connect.ts";
import { matches, matchRequests } from "../db/schema.ts";
import { type Bucket, roomName } from "../protocol/values.ts";
import { DEFAULT_TENANT } from "../tenancy.ts";
import { outboxMatchSchema, outboxRequestSchema } from "./recordSchemas.ts";

/** One record an actor owes Postgres: the version it is stored with (`seq`), its kind and body. */
export type OutboxEntry = { seq: number; kind: "request" | "match"; body: string };

type RequestRow = typeof matchRequests.$inferInsert;
type MatchRow = typeof matches.$inferInsert;

/**
 * Rows per INSERT statement. Postgres allows 65,535 bind parameters per statement; matches
 * have 19 columns, so this stays far below while keeping a normal batch to one statement.
 */
const ROWS_PER_STATEMENT = 500;

const TERMINAL_REQUEST_STATUSES = sql.raw(`('CONFIRMED', 'CANCELLED', 'TIMED_OUT')`);

/**
 * Write a batch of outbox entries from one actor to Postgres, all or nothing. A bucket's rows are
 * that bucket's (`bucket`); a row that names its own difficulty and topic (a challenge's match,
 * kept by a user's own object, `bucket` null) is that one's.
 *
 * Every row is an upsert keyed by id, applied only when it is newer than what is stored: the
 * entry's `seq` is stored as the row's `version`, and an actor's seqs only grow, so a
 * retried batch changes nothing and an older version arriving after a newer one is ignored. As a
 * second guard, a request or match that has ended is never turned back into a live one.
 *
 * Within the batch only the newest version of each row is sent (Postgres refuses to upsert one
 * row twice in a statement, and the older ones would lose anyway), so a normal batch is one
 * multi-row statement per table, in one transaction.
 *
 * Rejects if the database cannot be reached or refuses the write; nothing is written then, and
 * the caller keeps the entries in its outbox to retry. An entry whose body is not a valid
 * request or match can never be written, so it is skipped with a log line rather than blocking
 * every later entry behind it forever.
 */
export async function deliverRecords(
  db: Database,
  bucket: Bucket | null,
  entries: readonly OutboxEntry[],
  tenant: string = DEFAULT_TENANT,
): Promise<void> {
  const { requests, matchRows } = decodeEntries(tenant, bucket, entries);
  const statements: Array<(tx: Database) => Promise<unknown>> = [];
  for (const chunk of chunks(matchRows, ROWS_PER_STATEMENT)) {
    statements.push((tx) =>
      tx
        .insert(matches)
        .values(chunk)
        .onConflictDoUpdate({
          target: matches.id,
          set: excludedColumns(matches),
          setWhere: sql`${matches.version} < excluded.version
            and not (${matches.status} <> 'proposed' and excluded.status = 'proposed')`,
        }),
    );
  }
  for (const chunk of chunks(requests, ROWS_PER_STATEMENT)) {
    statements.push((tx) =>
      tx
        .insert(matchRequests)
        .values(chunk)
        .onConflictDoUpdate({
          target: matchRequests.id,
          set: excludedColumns(matchRequests),
          setWhere: sql`${matchRequests.version} < excluded.version
            and not (${matchRequests.status} in ${TERMINAL_REQUEST_STATUSES}
                     and excluded.status not in ${TERMINAL_REQUEST_STATUSES})`,
        }),
    );
  }
  if (statements.length === 0) return;
  // One statement is atomic on its own: skip BEGIN/COMMIT and their round trips.
  if (statements.length === 1) {
    await statements[0]!(db);
    return;
  }
  await db.transaction(async (tx) => {
    for (const run of statements) await run(tx as unknown as Database);
  });
}

/** Parse, validate and map entries; keep only the newest version of each row, in seq order. */
function decodeEntries(
  tenant: string,
  actorBucket: Bucket | null,
  entries: readonly OutboxEntry[],
): { requests: RequestRow[]; matchRows: MatchRow[] } {
  const newestRequest = new Map<string, RequestRow>();
  const newestMatch = new Map<string, MatchRow>();
  const room = actorBucket ? roomName(actorBucket) : "challenges";
  for (const entry of [...entries].sort((a, b) => a.seq - b.seq)) {
    if (!Number.isSafeInteger(entry.seq) || entry.seq < 0) {
      skip(room, entry, "seq is not a non-negative integer");
      continue;
    }
    let json: unknown;
    try {
      json = JSON.parse(entry.body);
    } catch {
      skip(room, entry, "body is not JSON");
      continue;
    }
    if (entry.kind === "request") {
      const parsed = outboxRequestSchema.safeParse(json);
      if (!parsed.success) {
        skip(room, entry, describeIssues(parsed.error));
        continue;
      }
      const r = parsed.data;
      const bucket = rowBucket(r, actorBucket);
      if (!bucket) {
        skip(room, entry, "names no bucket");
        continue;
      }
      newestRequest.set(r.id, {
        id: r.id,
        tenantId: tenant,
        userId: r.userId,
        bucket: roomName(bucket),
        difficulty: bucket.difficulty,
        topic: bucket.topic,
        status: r.status,
        createdAt: new Date(r.createdAt),
        endedAt: r.endedAt === null ? null : new Date(r.endedAt),
        outcome: r.outcome,
        matchId: r.matchId,
        role: r.role ?? null,
        rating: r.rating ?? null,
        version: entry.seq,
      });
    } else if (entry.kind === "match") {
      const parsed = outboxMatchSchema.safeParse(json);
      if (!parsed.success) {
        skip(room, entry, describeIssues(parsed.error));
        continue;
      }
      const m = parsed.data;
      const bucket = rowBucket(m, actorBucket);
      if (!bucket) {
        skip(room, entry, "names no bucket");
        continue;
      }
      const endedAt = m.endedAt === null ? null : new Date(m.endedAt);
      newestMatch.set(m.id, {
        id: m.id,
        tenantId: tenant,
        bucket: roomName(bucket),
        difficulty: bucket.difficulty,
        topic: bucket.topic,
        userA: m.users[0],
        userB: m.users[1],
        roleA: m.parts?.[0] ?? null,
        roleB: m.parts?.[1] ?? null,
        requestA: m.requests[0],
        requestB: m.requests[1],
        status: m.status,
        createdAt: new Date(m.createdAt),
        confirmedAt: m.status === "confirmed" ? endedAt : null,
        cancelledAt: m.status === "cancelled" ? endedAt : null,
        reason: m.reason,
        questionId: m.questionId,
        collaborationSessionId: m.collaborationSessionId,
        version: entry.seq,
      });
    } else {
      skip(room, entry, "unknown kind");
    }
  }
  // Maps keep first-insertion order; sort by version so rows go out in seq order.
  const bySeq = (a: { version?: number }, b: { version?: number }) => (a.version ?? 0) - (b.version ?? 0);
  return {
    requests: [...newestRequest.values()].sort(bySeq),
    matchRows: [...newestMatch.values()].sort(bySeq),
  };
}

/** The row's own bucket when it names one, else the actor's. */
function rowBucket(
  row: { difficulty?: Bucket["difficulty"] | undefined; topic?: string | undefined },
  actorBucket: Bucket | null,
): Bucket | null {
  return row.difficulty && row.topic ? { difficulty: row.difficulty, topic: row.topic } : actorBucket;
}

function skip(room: string, entry: OutboxEntry, why: string): void {
  console.error(`deliverRecords: skipping outbox entry ${room}#${entry.seq} (${entry.kind}): ${why}`);
}

/** `SET col = excluded.col` for every column but the key. */
function excludedColumns(table: PgTable): Record<string, SQL> {
  const set: Record<string, SQL> = {};
  for (const [key, column] of Object.entries(getTableColumns(table))) {
    if (column.primary) continue;
    set[key] = sql.raw(`excluded."${column.name}"`);
  }
  return set;
}

function chunks<T>(items: T[], size: number): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < items.length; i += size) out.push(items.slice(i, i + size));
  return out;
}

function describeIssues(error: { issues: Array<{ path: PropertyKey[]; message: string }> }): string {
  return error.issues.map((i) => `${i.path.map(String).join(".") || "body"}: ${i.message}`).join("; ");
}

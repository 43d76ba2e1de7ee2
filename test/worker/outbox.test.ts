import { env, evictDurableObject, runInDurableObject } from "cloudflare:test";
import { count, eq, sql } from "drizzle-orm";
import { afterEach, describe, expect, it, vi } from "vitest";
import { DatabaseTimeoutError, withDatabase } from "../../src/db/connect.ts";
import { matches, matchRequests } from "../../src/db/schema.ts";
import { matchHistorySchema, popularTopicsSchema } from "../../src/records/recordSchemas.ts";
import { alarmAfter, database } from "./databaseLink.ts";
import { api } from "./httpClient.ts";
import { bucketStub, confirmedPair, uniqueRoom, userIn } from "./socketClient.ts";

/** Records the bucket still owes Postgres: its rows with a version above the delivered one. */
async function outboxSize(room: string): Promise<number> {
  return runInDurableObject(bucketStub(room), (_actor, state) =>
    Number(
      state.storage.sql
        .exec<{ n: number }>(
          `SELECT count(*) AS n FROM (SELECT version FROM requests UNION ALL SELECT version FROM matches)
           WHERE version > (SELECT value FROM meta WHERE key = 'delivered')`,
        )
        .one().n,
    ),
  );
}

/** Rows Postgres holds for a bucket, counted through the same driver path the Worker uses. */
async function rowsFor(room: string) {
  return withDatabase(env.DATABASE_URL!, env.NEON_WS_PROXY, async (db) => {
    const [r] = await db.select({ n: count() }).from(matchRequests).where(eq(matchRequests.bucket, room));
    const [m] = await db.select({ n: count() }).from(matches).where(eq(matches.bucket, room));
    const statuses = await db
      .select({ status: matchRequests.status })
      .from(matchRequests)
      .where(eq(matchRequests.bucket, room));
    return { requests: r!.n, matches: m!.n, statuses: statuses.map((s) => s.status).sort() };
  });
}

/** Version of every Postgres row of a bucket, by id. */
async function versionsFor(room: string): Promise<Record<string, number>> {
  return withDatabase(env.DATABASE_URL!, env.NEON_WS_PROXY, async (db) => {
    const r = await db
      .select({ id: matchRequests.id, version: matchRequests.version })
      .from(matchRequests)
      .where(eq(matchRequests.bucket, room));
    const m = await db
      .select({ id: matches.id, version: matches.version })
      .from(matches)
      .where(eq(matches.bucket, room));
    return Object.fromEntries([...r, ...m].map((row) => [row.id, Number(row.version)]));
  });
}

/** Play `pairs` complete matches in `room`: both sides confirm and get match_ready. */
async function playMatches(room: string, pairs: number) {
  for (let i = 0; i < pairs; i++) {
    await confirmedPair(room, `a${i}`, `b${i}`);
  }
}

afterEach(async () => {
  vi.useRealTimers();
  vi.restoreAllMocks();
  await database("up");
});

/**
 * The warning a failed delivery logs for the operator, expected while the database is down: kept
 * out of the test output, and returned so the test can check it was said.
 */
function deliveryWarnings() {
  return vi.spyOn(console, "warn").mockImplementation(() => {});
}

const FAILED_DELIVERY = expect.stringMatching(/^outbox delivery failed \(1x\), retrying in ~\d+ ms: /);

describe("durable records through the outbox", () => {
  it("delivers every match and request outcome to Postgres, once", async () => {
    const room = uniqueRoom();
    await playMatches(room, 2);
    await alarmAfter(room, 1_000);
    expect(await outboxSize(room)).toBe(0);
    expect(await rowsFor(room)).toEqual({ requests: 4, matches: 2, statuses: Array(4).fill("CONFIRMED") });
  });

  it("keeps matching while Postgres is down, then every record lands exactly once", async () => {
    const room = uniqueRoom();
    const warned = deliveryWarnings();
    await database("down");
    await playMatches(room, 3);
    const queued = await outboxSize(room);
    expect(queued).toBeGreaterThanOrEqual(9);
    // Delivery fails and backs off; nothing leaves the outbox.
    await alarmAfter(room, 1_000);
    expect(await outboxSize(room)).toBe(queued);
    expect(warned).toHaveBeenCalledWith(FAILED_DELIVERY);
    await database("up");
    await alarmAfter(room, 120_000);
    expect(await outboxSize(room)).toBe(0);
    expect(await rowsFor(room)).toEqual({ requests: 6, matches: 3, statuses: Array(6).fill("CONFIRMED") });
    // Running the drain again writes nothing twice.
    await alarmAfter(room, 240_000);
    expect(await rowsFor(room)).toEqual({ requests: 6, matches: 3, statuses: Array(6).fill("CONFIRMED") });
  });

  it("keeps records owed past their retention while Postgres is down, and delivers them", async () => {
    const room = uniqueRoom();
    await database("down");
    await playMatches(room, 1);
    // Well past the hour ended rows are kept: the prune runs, but these have not reached Postgres.
    await alarmAfter(room, 2 * 3_600_000);
    expect(await outboxSize(room)).toBe(3);
    await database("up");
    await alarmAfter(room, 3 * 3_600_000);
    expect(await outboxSize(room)).toBe(0);
    expect(await rowsFor(room)).toEqual({ requests: 2, matches: 1, statuses: ["CONFIRMED", "CONFIRMED"] });
  });

  it("an actor evicted with a pending outbox still delivers it", async () => {
    const room = uniqueRoom();
    const warned = deliveryWarnings();
    await database("down");
    await playMatches(room, 1);
    await alarmAfter(room, 1_000);
    expect(await outboxSize(room)).toBeGreaterThan(0);
    expect(warned).toHaveBeenCalledWith(FAILED_DELIVERY);
    await evictDurableObject(bucketStub(room));
    await database("up");
    await alarmAfter(room, 120_000);
    expect(await outboxSize(room)).toBe(0);
    expect(await rowsFor(room)).toMatchObject({ requests: 2, matches: 1 });
  });

  it("drains a backlog of thousands of records a bounded share per delivery, each at its newest version", async () => {
    const room = uniqueRoom();
    const warned = deliveryWarnings();
    await database("down");
    await playMatches(room, 2);
    // Copies of the ended requests under new ids (each owed at a version of its own) until the
    // backlog spans many batches; the actor learns what it owes when it wakes.
    const { backlog, newest } = await runInDurableObject(bucketStub(room), (_actor, state) => {
      const sql = state.storage.sql;
      const owed = () =>
        sql.exec<{ n: number }>("SELECT count(*) AS n FROM requests WHERE version IS NOT NULL").one().n;
      while (owed() < 4_500) {
        // Each copy is named after its version, which no other row has.
        sql.exec(`INSERT INTO requests (id, user_id, status, ended_at, version, body)
          SELECT id || '-' || (version + top), user_id, status, ended_at, version + top,
            json_set(body, '$.id', id || '-' || (version + top))
          FROM requests, (SELECT max(version) AS top FROM requests) WHERE version IS NOT NULL`);
      }
      const rows = sql
        .exec<{ id: string; version: number }>(
          "SELECT id, version FROM requests WHERE version IS NOT NULL UNION ALL SELECT id, version FROM matches",
        )
        .toArray();
      return { backlog: rows.length, newest: Object.fromEntries(rows.map((r) => [r.id, r.version])) };
    });
    await evictDurableObject(bucketStub(room));
    // A failed attempt first: its backoff keeps the real alarm far off while we drive it.
    expect(await alarmAfter(room, 120_000)).toBe(true);
    expect(await outboxSize(room)).toBe(backlog);
    expect(warned).toHaveBeenCalledWith(FAILED_DELIVERY);
    await database("up");
    expect(await alarmAfter(room, 240_000)).toBe(true);
    // One delivery carries a bounded share, then asks to go on at once.
    const left = await outboxSize(room);
    expect(left).toBeGreaterThan(0);
    expect(left).toBeLessThan(backlog - 1_000);
    for (let i = 2; i < 10 && (await outboxSize(room)) > 0; i++) {
      expect(await alarmAfter(room, 120_000 * (i + 1))).toBe(true);
    }
    expect(await outboxSize(room)).toBe(0);
    expect(await rowsFor(room)).toMatchObject({ requests: backlog - 2, matches: 2 });
    // Every batch landed: each row carries its newest version.
    expect(await versionsFor(room)).toEqual(newest);
  });

  it("gives up at its timeout when the database stops answering mid-work", async () => {
    const started = Date.now();
    await expect(
      withDatabase(
        env.DATABASE_URL!,
        env.NEON_WS_PROXY,
        async (db) => {
          await db.execute(sql`select 1`);
          await database("hang");
          await db.execute(sql`select 1`);
        },
        { timeoutMs: 1_000 },
      ),
    ).rejects.toBeInstanceOf(DatabaseTimeoutError);
    expect(Date.now() - started).toBeLessThan(5_000);
  });

  it("serves the delivered records: history, one match, popular topics", async () => {
    const room = uniqueRoom("medium");
    await playMatches(room, 2);
    await alarmAfter(room, 1_000);
    const alice = userIn(room, "a0");
    const history = matchHistorySchema.parse((await api(alice, "GET", "/me/matches?limit=5")).json);
    expect(history.matches).toHaveLength(1);
    const [m] = history.matches;
    expect(m).toMatchObject({ status: "confirmed", partnerId: userIn(room, "b0"), difficulty: "medium" });
    expect((await api(alice, "GET", `/matches/${m!.id}`)).status).toBe(200);
    expect((await api(userIn(room, "a1"), "GET", `/matches/${m!.id}`)).status).toBe(404);
    const popular = popularTopicsSchema.parse(
      (await api(alice, "GET", "/topics/popular?limit=50&hours=1")).json,
    );
    expect(popular.topics.find((t) => t.topic === room.split(".")[1])).toMatchObject({
      matches: 2,
      byDifficulty: { medium: 2 },
    });
  });
});

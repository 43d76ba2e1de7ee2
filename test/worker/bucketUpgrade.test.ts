import { env, evictDurableObject, runInDurableObject } from "cloudflare:test";
import { eq } from "drizzle-orm";
import { afterEach, describe, expect, it, vi } from "vitest";
import { withDatabase } from "../../src/db/connect.ts";
import { matches, matchRequests } from "../../src/db/schema.ts";
import { parseRoomName } from "../../src/protocol/values.ts";
import { deliverRecords } from "../../src/records/deliverRecords.ts";
import { alarmAfter, database } from "./databaseLink.ts";
import { api } from "./httpClient.ts";
import { bucketStub, confirmedPair, join, uniqueRoom, userIn } from "./socketClient.ts";

/** What Postgres holds for the bucket: each record's status and version, by id. */
async function recorded(room: string): Promise<Record<string, [string, number]>> {
  return withDatabase(env.DATABASE_URL!, env.NEON_WS_PROXY, async (db) => {
    const r = await db.select().from(matchRequests).where(eq(matchRequests.bucket, room));
    const m = await db.select().from(matches).where(eq(matches.bucket, room));
    return Object.fromEntries([...r, ...m].map((row) => [row.id, [row.status, Number(row.version)]]));
  });
}

type Row = { id: string; body: string };
/** An outbox entry of the old layout: its kind and body, and whether it was delivered (and dropped). */
type OldEntry = { kind: "request" | "match"; body: string; delivered?: boolean };

/**
 * Rewrite the bucket's storage in the layout objects had before the schema version was kept,
 * with the same rows and bodies, and the outbox entries given (numbered in order, the delivered
 * ones dropped as the delivery did). Returns the rows, by id.
 */
async function asVersion1(room: string, outbox: (rows: Map<string, string>) => OldEntry[]) {
  return runInDurableObject(bucketStub(room), (_actor, state) => {
    const sql = state.storage.sql;
    const requests = sql.exec<Row & { user_id: string; status: string; ended_at: number | null }>(
      "SELECT id, user_id, status, ended_at, body FROM requests",
    );
    const requestRows = requests.toArray();
    const matchRows = sql
      .exec<Row & { status: string; created_at: number; ended_at: number | null }>(
        "SELECT id, status, created_at, ended_at, body FROM matches",
      )
      .toArray();
    const meta = sql.exec<{ key: string; value: number }>("SELECT key, value FROM meta").toArray();
    sql.exec("DROP TABLE requests; DROP TABLE matches; DROP TABLE meta; DROP TABLE peer_outbox");
    // As the code before the schema version created them.
    sql.exec(`
      CREATE TABLE requests (
        id TEXT PRIMARY KEY, user_id TEXT NOT NULL, status TEXT NOT NULL,
        ended_at INTEGER, body TEXT NOT NULL);
      CREATE INDEX requests_live ON requests (status) WHERE ended_at IS NULL;
      CREATE INDEX requests_ended ON requests (ended_at) WHERE ended_at IS NOT NULL;
      CREATE TABLE matches (
        id TEXT PRIMARY KEY, status TEXT NOT NULL, created_at INTEGER NOT NULL,
        ended_at INTEGER, body TEXT NOT NULL);
      CREATE INDEX matches_live ON matches (status) WHERE ended_at IS NULL;
      CREATE INDEX matches_created ON matches (created_at);
      CREATE TABLE meta (key TEXT PRIMARY KEY, value INTEGER);
      CREATE TABLE outbox (seq INTEGER PRIMARY KEY AUTOINCREMENT, kind TEXT NOT NULL, body TEXT NOT NULL);
      CREATE TABLE peer_outbox (seq INTEGER PRIMARY KEY AUTOINCREMENT, room TEXT NOT NULL, body TEXT NOT NULL);
    `);
    for (const r of requestRows)
      sql.exec("INSERT INTO requests VALUES (?, ?, ?, ?, ?)", r.id, r.user_id, r.status, r.ended_at, r.body);
    for (const m of matchRows)
      sql.exec(
        "INSERT INTO matches VALUES (?, ?, ?, ?, ?)",
        m.id,
        m.status,
        m.created_at,
        m.ended_at,
        m.body,
      );
    for (const { key, value } of meta)
      if (key === "token_expiry" || key === "pairing") sql.exec("INSERT INTO meta VALUES (?, ?)", key, value);
    const bodies = new Map([...requestRows, ...matchRows].map((r) => [r.id, r.body]));
    const entries = outbox(bodies).map((e) => ({
      ...e,
      seq: sql
        .exec<{ seq: number }>("INSERT INTO outbox (kind, body) VALUES (?, ?) RETURNING seq", e.kind, e.body)
        .one().seq,
    }));
    for (const e of entries) if (e.delivered) sql.exec("DELETE FROM outbox WHERE seq = ?", e.seq);
    return { bodies, entries };
  });
}

afterEach(async () => {
  vi.useRealTimers();
  await database("up");
});

describe("a bucket written by the code before the schema version", () => {
  it("keeps its ended rows and delivers what its outbox owed, a pruned row's entry too", async () => {
    const room = uniqueRoom();
    await database("down");
    const { matchId, requestA } = await confirmedPair(room, "a", "b");
    // A request that timed out and was pruned while Postgres was down: only its entry is left.
    const goneId = `req_${crypto.randomUUID()}`;
    const gone = JSON.parse(
      (
        await runInDurableObject(bucketStub(room), (_actor, state) =>
          state.storage.sql.exec<{ body: string }>("SELECT body FROM requests WHERE id = ?", requestA).one(),
        )
      ).body,
    );
    const goneBody = JSON.stringify({
      ...gone,
      id: goneId,
      userId: userIn(room, "gone"),
      status: "TIMED_OUT",
      outcome: "queue_timeout",
      matchId: null,
    });
    const { bodies } = await asVersion1(room, (rows) => {
      const requestB = [...rows.keys()].find((id) => id.startsWith("req_") && id !== requestA)!;
      return [
        { kind: "request", body: goneBody },
        { kind: "match", body: rows.get(matchId)! },
        { kind: "request", body: rows.get(requestA)! },
        { kind: "request", body: rows.get(requestB)! },
      ];
    });
    await evictDurableObject(bucketStub(room));
    await database("up");
    expect(await alarmAfter(room, 2_000)).toBe(true);

    const requestB = [...bodies.keys()].find((id) => id.startsWith("req_") && id !== requestA)!;
    expect(await recorded(room)).toEqual({
      [goneId]: ["TIMED_OUT", expect.any(Number)],
      [matchId]: ["confirmed", expect.any(Number)],
      [requestA]: ["CONFIRMED", expect.any(Number)],
      [requestB]: ["CONFIRMED", expect.any(Number)],
    });
    // Still answered from the bucket, as before the upgrade.
    const view = await api(userIn(room, "a"), "GET", `/request/${requestA}`);
    expect(view).toMatchObject({ status: 200, json: { status: "CONFIRMED", match: { id: matchId } } });
    const tables = await runInDurableObject(bucketStub(room), (_actor, state) =>
      state.storage.sql
        .exec<{ name: string }>(
          "SELECT name FROM sqlite_master WHERE name IN ('outbox', 'requests_live') OR sql LIKE '%AUTOINCREMENT%'",
        )
        .toArray(),
    );
    expect(tables).toEqual([]);
  });

  it("serves a request that waited through the upgrade, and records its outcome above every old version", async () => {
    const room = uniqueRoom();
    const waiter = await join(room, "waiter");
    // Its entries went out long ago: Postgres holds it at the last number the old outbox gave.
    const { entries } = await asVersion1(room, (rows) =>
      Array.from({ length: 7 }, () => ({
        kind: "request" as const,
        body: rows.get(waiter.queued.requestId)!,
        delivered: true,
      })),
    );
    const last = entries.at(-1)!;
    await withDatabase(env.DATABASE_URL!, env.NEON_WS_PROXY, (db) =>
      deliverRecords(db, parseRoomName(room)!, [{ seq: last.seq, kind: "request", body: last.body }]),
    );
    expect(await recorded(room)).toEqual({ [waiter.queued.requestId]: ["PENDING", 7] });
    await evictDurableObject(bucketStub(room));

    // The waiter's socket hibernated through it; a newcomer is paired with the waiter.
    const other = await join(room, "other");
    const found = await other.socket.next("match_found");
    expect(found.partnerId).toBe(userIn(room, "waiter"));
    expect((await waiter.socket.next("match_found")).matchId).toBe(found.matchId);
    waiter.socket.send({ type: "confirm", matchId: found.matchId });
    await other.socket.next("partner_confirmed");
    other.socket.send({ type: "confirm", matchId: found.matchId });
    await waiter.socket.next("match_ready");
    expect(await alarmAfter(room, 2_000)).toBe(true);
    const stored = await recorded(room);
    expect(stored[waiter.queued.requestId]?.[0]).toBe("CONFIRMED");
    expect(stored[waiter.queued.requestId]?.[1]).toBeGreaterThan(7);
  });
});

import { env } from "cloudflare:test";
import { count, inArray } from "drizzle-orm";
import { Hono } from "hono";
import { beforeAll, describe, expect, it, vi } from "vitest";
import { mintDevToken } from "../../src/auth/devToken.ts";
import { configFromEnv } from "../../src/config.ts";
import { type Database, withDatabase } from "../../src/db/connect.ts";
import { matches, matchRequests } from "../../src/db/schema.ts";
import { ApiError, errorBody } from "../../src/http/apiError.ts";
import type { AppEnv } from "../../src/http/context.ts";
import { history } from "../../src/http/history.ts";
import type { Match, MatchRequest } from "../../src/matching/types.ts";
import type { Bucket } from "../../src/protocol/values.ts";
import { deliverRecords, type OutboxEntry } from "../../src/records/deliverRecords.ts";
import { findMatchFor, matchHistory, popularTopics } from "../../src/records/queries.ts";
import {
  matchHistorySchema,
  matchRecordSchema,
  popularTopicsSchema,
} from "../../src/records/recordSchemas.ts";
import { requestRow } from "../core/testHarness.ts";
import { TEST_JWT_SECRET } from "../testSecret.ts";

// ---- helpers ----

const UNREACHABLE_DATABASE = "postgres://postgres@127.0.0.1:9/x";

/**
 * One database session (one connection, as the actor and the endpoints use). Each test does its
 * direct reads and writes in one session, to keep the shared test database's connections few.
 */
function database<T>(work: (db: Database) => Promise<T>): Promise<T> {
  if (!env.DATABASE_URL) throw new Error("the test database is not configured");
  return withDatabase(env.DATABASE_URL, env.NEON_WS_PROXY, work);
}

const uid = () => crypto.randomUUID().slice(0, 13);
const newUser = (name: string) => `${name}-${uid()}`;
const newMatchId = () => `mat_${crypto.randomUUID()}`;
const newRequestId = () => `req_${crypto.randomUUID()}`;
const bucketOf = (difficulty: Bucket["difficulty"] = "easy", topic = `t-${uid()}`): Bucket => ({
  difficulty,
  topic,
});

function request(fields: Partial<MatchRequest> & Pick<MatchRequest, "id" | "userId">): MatchRequest {
  return requestRow({ createdAt: Date.UTC(2030, 0, 1), expiresAt: Date.UTC(2030, 0, 1, 0, 1), ...fields });
}

function match(fields: Partial<Match> & Pick<Match, "id" | "users" | "requests">): Match {
  return {
    parts: ["interviewer", "interviewee"],
    createdAt: Date.UTC(2030, 0, 1, 0, 0, 5),
    confirmBy: Date.UTC(2030, 0, 1, 0, 0, 25),
    confirmed: [],
    settingUp: false,
    status: "proposed",
    reason: null,
    endedAt: null,
    questionId: null,
    collaborationSessionId: null,
    ...fields,
  };
}

let nextSeq = 1;
/** Outbox entries as the actor stores them, with increasing seqs. */
function outbox(...rows: Array<MatchRequest | Match>): OutboxEntry[] {
  return rows.map((row) => ({
    seq: nextSeq++,
    kind: "users" in row ? "match" : "request",
    body: JSON.stringify(row),
  }));
}

/**
 * An outbox entry as the actor wrote it before roles and ratings existed: the row without those
 * fields, which may still sit in an outbox when the new code delivers it.
 */
function fromBeforeRoles(row: MatchRequest | Match): OutboxEntry {
  const [entry] = outbox(row);
  const added = new Set(["role", "rating", "blocked", "recent", "recheckAt", "parts"]);
  const old = Object.fromEntries(Object.entries(row).filter(([key]) => !added.has(key)));
  return { ...entry!, body: JSON.stringify(old) };
}

async function rowCounts(db: Database, ids: { matches: string[]; requests: string[] }) {
  const [m] = ids.matches.length
    ? await db.select({ n: count() }).from(matches).where(inArray(matches.id, ids.matches))
    : [{ n: 0 }];
  const [r] = ids.requests.length
    ? await db.select({ n: count() }).from(matchRequests).where(inArray(matchRequests.id, ids.requests))
    : [{ n: 0 }];
  return { matches: m?.n ?? -1, requests: r?.n ?? -1 };
}

const requestRows = (db: Database, ids: string[]) =>
  db.select().from(matchRequests).where(inArray(matchRequests.id, ids)).orderBy(matchRequests.id);

/** A pair matched at `createdAt` (match `fields` on top), as the five outbox rows the actor writes. */
function pairedRows(bucketUsers: [string, string], createdAt: number, fields: Partial<Match> = {}) {
  const [a, b] = bucketUsers;
  const ra = request({ id: newRequestId(), userId: a, createdAt: createdAt - 2_000 });
  const rb = request({ id: newRequestId(), userId: b, createdAt: createdAt - 1_000 });
  const m = match({ id: newMatchId(), users: [a, b], requests: [ra.id, rb.id], createdAt, ...fields });
  const matched = (r: MatchRequest) => ({ ...r, status: "MATCHED" as const, matchId: m.id });
  return { ra, rb, m, rows: [ra, rb, m, matched(ra), matched(rb)] };
}

/** A Hono app shaped like the Worker's (config middleware, ApiError rendering) around `history`. */
function api(overrides: Partial<Cloudflare.Env> = {}) {
  const appEnv = { ...env, ...overrides };
  const app = new Hono<AppEnv>();
  app.use(async (c, next) => {
    const loaded = configFromEnv(c.env);
    if (!loaded.ok) throw new Error(`bad test config: ${JSON.stringify(loaded.problems)}`);
    c.set("config", loaded.config);
    await next();
  });
  app.route("/api/v1/matching", history);
  app.onError((err, c) => {
    if (err instanceof ApiError)
      return c.json(errorBody(err.code, err.message, err.details), err.status, err.headers);
    return c.json(errorBody("internal", String(err)), 500);
  });
  return async (path: string, userId?: string, tenant?: string) => {
    const headers: Record<string, string> = {};
    const claims = tenant ? { tenant_id: tenant } : {};
    if (userId) headers.authorization = `Bearer ${await mintDevToken(TEST_JWT_SECRET, userId, { claims })}`;
    return app.request(`/api/v1/matching${path}`, { headers }, appEnv);
  };
}

// ---- writing ----

describe("deliverRecords", () => {
  it("writes a batch once: delivering it again adds no row and changes nothing", async () => {
    const bucket = bucketOf("medium");
    const [alice, bob] = [newUser("alice"), newUser("bob")];
    const { ra, rb, m, rows } = pairedRows([alice, bob], Date.UTC(2030, 5, 1, 12));
    const batch = outbox(...rows);

    const stored = await database(async (db) => {
      await deliverRecords(db, bucket, batch);
      await deliverRecords(db, bucket, batch);
      // A retry in another order changes nothing either.
      await deliverRecords(db, bucket, [...batch].reverse());
      const [matchRow] = await db
        .select()
        .from(matches)
        .where(inArray(matches.id, [m.id]));
      return {
        counts: await rowCounts(db, { matches: [m.id], requests: [ra.id, rb.id] }),
        matchRow,
        requests: await requestRows(db, [ra.id, rb.id]),
      };
    });

    expect(stored.counts).toEqual({ matches: 1, requests: 2 });
    expect(stored.matchRow).toMatchObject({
      bucket: `medium.${bucket.topic}`,
      difficulty: "medium",
      topic: bucket.topic,
      userA: alice,
      userB: bob,
      requestA: ra.id,
      requestB: rb.id,
      status: "proposed",
      createdAt: new Date(m.createdAt),
      confirmedAt: null,
      cancelledAt: null,
      version: batch[2]!.seq,
    });
    // Of each request's two versions in the batch, the newer (MATCHED) is the one stored.
    expect(stored.requests).toHaveLength(2);
    for (const row of stored.requests) {
      const source = row.id === ra.id ? ra : rb;
      expect(row).toMatchObject({
        userId: source.userId,
        status: "MATCHED",
        matchId: m.id,
        bucket: `medium.${bucket.topic}`,
        createdAt: new Date(source.createdAt),
        endedAt: null,
      });
    }
  });

  it("never moves a row backwards: an older version arriving after a newer one is ignored", async () => {
    const bucket = bucketOf();
    const [alice, bob] = [newUser("alice"), newUser("bob")];
    const { ra, rb, m, rows } = pairedRows([alice, bob], Date.UTC(2030, 5, 2));
    const older = outbox(...rows);
    const endedAt = m.createdAt + 10_000;
    const newer = outbox(
      {
        ...m,
        status: "confirmed",
        endedAt,
        confirmed: [alice, bob],
        questionId: "q-1",
        collaborationSessionId: "room-1",
      },
      { ...ra, status: "CONFIRMED", matchId: m.id, endedAt, outcome: "confirmed" },
      { ...rb, status: "CONFIRMED", matchId: m.id, endedAt, outcome: "confirmed" },
    );

    const result = await database(async (db) => {
      // The newer batch lands first (an earlier attempt of the older one got through late).
      await deliverRecords(db, bucket, newer);
      await deliverRecords(db, bucket, older);
      return {
        found: await findMatchFor(db, m.id, bob),
        requests: await requestRows(db, [ra.id, rb.id]),
        counts: await rowCounts(db, { matches: [m.id], requests: [ra.id, rb.id] }),
      };
    });
    expect(result.found).toMatchObject({
      status: "confirmed",
      confirmedAt: new Date(endedAt).toISOString(),
      cancelledAt: null,
      questionId: "q-1",
      collaborationSessionId: "room-1",
    });
    expect(result.requests.map((r) => [r.status, r.outcome, r.endedAt?.getTime()])).toEqual([
      ["CONFIRMED", "confirmed", endedAt],
      ["CONFIRMED", "confirmed", endedAt],
    ]);
    expect(result.counts).toEqual({ matches: 1, requests: 2 });
  });

  it("orders by outbox seq, not by status, and never turns an ended row back into a live one", async () => {
    const bucket = bucketOf();
    // Requeued after a failed match: MATCHED (older) must not overwrite PENDING (newer).
    const requeuedRequest = request({ id: newRequestId(), userId: newUser("carol") });
    const [matched] = outbox({ ...requeuedRequest, status: "MATCHED", matchId: newMatchId() });
    const [requeued] = outbox({ ...requeuedRequest, status: "PENDING", matchId: null });
    // Ended, then a live version with a higher seq (which the actor never writes): still ended.
    const endedRequest = request({ id: newRequestId(), userId: newUser("dave") });
    const [ended] = outbox({
      ...endedRequest,
      status: "TIMED_OUT",
      endedAt: endedRequest.createdAt + 60_000,
      outcome: "queue_timeout",
    });
    const [live] = outbox({ ...endedRequest, status: "PENDING" });
    // The same for a match: cancelled stays cancelled.
    const [a, b] = [newUser("a"), newUser("b")];
    const m = match({ id: newMatchId(), users: [a, b], requests: [newRequestId(), newRequestId()] });
    const [cancelled] = outbox({
      ...m,
      status: "cancelled",
      reason: "declined",
      endedAt: m.createdAt + 1_000,
    });
    const [proposed] = outbox(m);

    const result = await database(async (db) => {
      await deliverRecords(db, bucket, [requeued!, ended!, cancelled!]);
      await deliverRecords(db, bucket, [matched!]);
      await deliverRecords(db, bucket, [live!, proposed!]);
      return {
        requests: await requestRows(db, [requeuedRequest.id, endedRequest.id]),
        match: await findMatchFor(db, m.id, a),
      };
    });
    const byId = new Map(result.requests.map((r) => [r.id, r]));
    expect(byId.get(requeuedRequest.id)).toMatchObject({
      status: "PENDING",
      matchId: null,
      version: requeued!.seq,
    });
    expect(byId.get(endedRequest.id)).toMatchObject({
      status: "TIMED_OUT",
      outcome: "queue_timeout",
      version: ended!.seq,
    });
    expect(result.match).toMatchObject({
      status: "cancelled",
      reason: "declined",
      cancelledAt: new Date(m.createdAt + 1_000).toISOString(),
    });
  });

  it("stores each request's role and rating and what each user of a match plays", async () => {
    const bucket = bucketOf();
    const [alice, bob] = [newUser("alice"), newUser("bob")];
    const ra = request({ id: newRequestId(), userId: alice, role: "either", rating: 1512.5 });
    const rb = request({ id: newRequestId(), userId: bob, role: "interviewer", rating: null });
    // users[0] plays interviewee: the stored roles follow `parts`, not the pairing order.
    const m = match({
      id: newMatchId(),
      users: [alice, bob],
      requests: [ra.id, rb.id],
      parts: ["interviewee", "interviewer"],
    });

    const stored = await database(async (db) => {
      await deliverRecords(db, bucket, outbox(ra, rb, m));
      const [matchRow] = await db
        .select()
        .from(matches)
        .where(inArray(matches.id, [m.id]));
      return { matchRow, requests: await requestRows(db, [ra.id, rb.id]) };
    });
    expect(stored.matchRow).toMatchObject({
      userA: alice,
      roleA: "interviewee",
      userB: bob,
      roleB: "interviewer",
    });
    const byId = new Map(stored.requests.map((r) => [r.id, r]));
    expect(byId.get(ra.id)).toMatchObject({ role: "either", rating: 1512.5 });
    expect(byId.get(rb.id)).toMatchObject({ role: "interviewer", rating: null });
  });

  it("still writes outbox rows from before roles and ratings, with those columns null", async () => {
    const bucket = bucketOf();
    const [alice, bob] = [newUser("alice"), newUser("bob")];
    const ra = request({ id: newRequestId(), userId: alice, role: "interviewer", rating: 1400 });
    const m = match({ id: newMatchId(), users: [alice, bob], requests: [ra.id, newRequestId()] });
    const batch = [fromBeforeRoles(ra), fromBeforeRoles(m)];
    const [oldRequest, oldMatch] = batch.map((e) => JSON.parse(e.body));
    expect(oldRequest).not.toHaveProperty("role");
    expect(oldMatch).not.toHaveProperty("parts");

    const stored = await database(async (db) => {
      await deliverRecords(db, bucket, batch);
      const [matchRow] = await db
        .select()
        .from(matches)
        .where(inArray(matches.id, [m.id]));
      return { matchRow, requests: await requestRows(db, [ra.id]), found: await findMatchFor(db, m.id, bob) };
    });
    expect(stored.matchRow).toMatchObject({ userA: alice, roleA: null, roleB: null });
    expect(stored.requests).toEqual([expect.objectContaining({ id: ra.id, role: null, rating: null })]);
    expect(matchRecordSchema.parse(stored.found)).toMatchObject({
      partnerId: alice,
      role: null,
      partnerRole: null,
    });
  });

  it("skips an entry it can never write instead of blocking the rest of the batch", async () => {
    const bucket = bucketOf();
    const r = request({ id: newRequestId(), userId: newUser("erin") });
    const batch: OutboxEntry[] = [
      { seq: nextSeq++, kind: "request", body: "{not json" },
      { seq: nextSeq++, kind: "match", body: JSON.stringify({ id: newMatchId() }) },
      ...outbox(r),
    ];
    const counts = await database(async (db) => {
      await deliverRecords(db, bucket, batch);
      await deliverRecords(db, bucket, []);
      return rowCounts(db, { matches: [], requests: [r.id] });
    });
    expect(counts.requests).toBe(1);
  });

  it("rejects promptly when the database cannot be reached (the entries stay with the caller)", async () => {
    const bucket = bucketOf();
    const batch = outbox(request({ id: newRequestId(), userId: newUser("frank") }));
    const started = Date.now();
    await expect(
      withDatabase(UNREACHABLE_DATABASE, env.NEON_WS_PROXY, (db) => deliverRecords(db, bucket, batch)),
    ).rejects.toThrow();
    expect(Date.now() - started).toBeLessThan(6_000);
  });
});

// ---- reading ----

describe("match history", () => {
  it("pages newest first across three pages with a cursor, on either side of the pairing", async () => {
    const me = newUser("me");
    const bucket = bucketOf("hard");
    const base = Date.UTC(2031, 0, 1);
    const created: Array<{ id: string; at: number }> = [];
    const rows: Array<MatchRequest | Match> = [];
    for (let i = 0; i < 7; i++) {
      // Two matches share a timestamp: the id breaks the tie.
      const at = base + (i === 4 ? 3 : i) * 60_000;
      const pair: [string, string] = i % 2 === 0 ? [me, newUser("p")] : [newUser("p"), me];
      const { m, rows: r } = pairedRows(pair, at);
      created.push({ id: m.id, at });
      rows.push(...r);
    }
    // Someone else's match never shows up.
    rows.push(...pairedRows([newUser("x"), newUser("y")], base + 10 * 60_000).rows);
    const expected = [...created].sort((a, b) => b.at - a.at || (a.id < b.id ? 1 : -1)).map((c) => c.id);

    const pages = await database(async (db) => {
      await deliverRecords(db, bucket, outbox(...rows));
      const page1 = await matchHistory(db, me, { limit: 3 });
      // A match recorded while paging (newer than everything) does not shift the next pages.
      await deliverRecords(db, bucket, outbox(...pairedRows([me, newUser("late")], base + 99 * 60_000).rows));
      const page2 = await matchHistory(db, me, { limit: 3, cursor: page1.nextCursor });
      const page3 = await matchHistory(db, me, { limit: 3, cursor: page2.nextCursor });
      return [page1, page2, page3];
    });

    expect(pages.map((p) => p.matches.map((m) => m.id))).toEqual([
      expected.slice(0, 3),
      expected.slice(3, 6),
      expected.slice(6),
    ]);
    expect(pages.map((p) => p.nextCursor === null)).toEqual([false, false, true]);
    for (const record of pages.flatMap((p) => p.matches)) {
      expect(matchRecordSchema.parse(record).userIds).toContain(me);
      expect(record.partnerId).not.toBe(me);
      expect(record).toMatchObject({ difficulty: "hard", topic: bucket.topic, status: "proposed" });
    }
  });
});

describe("popular topics", () => {
  it("ranks topics by matches created in the window, with a per-difficulty breakdown", async () => {
    // A window of its own, far from every other test's rows.
    const since = Date.UTC(2040, 0, 1) + Math.floor(Math.random() * 1_000_000) * 3_600_000;
    const until = since + 3_600_000;
    const tag = uid();
    const [graphs, arrays, dp, trees] = ["graphs", "arrays", "dp", "trees"].map((t) => `${t}-${tag}`) as [
      string,
      string,
      string,
      string,
    ];
    const plan: Array<[Bucket["difficulty"], string, number]> = [
      ["easy", graphs, 2],
      ["hard", graphs, 2],
      ["medium", arrays, 3],
      ["easy", dp, 1],
      ["hard", trees, 1],
    ];
    const pair = (at: number) => pairedRows([newUser("a"), newUser("b")], at).rows;

    const [ranked, top2] = await database(async (db) => {
      for (const [difficulty, topic, n] of plan) {
        const rows = Array.from({ length: n }, (_, i) => pair(since + (i + 1) * 1000)).flat();
        await deliverRecords(db, { difficulty, topic }, outbox(...rows));
      }
      // Just outside the window on both sides: not counted.
      await deliverRecords(
        db,
        { difficulty: "easy", topic: dp },
        outbox(...pair(since - 1), ...pair(until), ...pair(until + 5)),
      );
      return Promise.all([
        popularTopics(db, { sinceMs: since, untilMs: until, limit: 10 }),
        popularTopics(db, { sinceMs: since, untilMs: until, limit: 2 }),
      ]);
    });
    expect(ranked).toEqual([
      { topic: graphs, matches: 4, byDifficulty: { easy: 2, medium: 0, hard: 2 } },
      { topic: arrays, matches: 3, byDifficulty: { easy: 0, medium: 3, hard: 0 } },
      // A tie is broken by name.
      { topic: dp, matches: 1, byDifficulty: { easy: 1, medium: 0, hard: 0 } },
      { topic: trees, matches: 1, byDifficulty: { easy: 0, medium: 0, hard: 1 } },
    ]);
    expect(top2.map((t) => t.topic)).toEqual([graphs, arrays]);
  });
});

// ---- HTTP ----

describe("history endpoints over HTTP", () => {
  const me = newUser("me");
  const [alice, bob, eve] = [newUser("alice"), newUser("bob"), newUser("eve")];
  const aliceAndBob = pairedRows([alice, bob], Date.UTC(2031, 2, 1));
  const bucket = bucketOf("medium");
  const recentBucket = bucketOf("hard");
  // Its own tenant: the popular topics it must find are then not crowded out of the top 50 by
  // every other test's records in a shared database.
  const recentTenant = `popular${crypto.randomUUID().slice(0, 8)}`;
  const get = api();

  beforeAll(async () => {
    const mine = [1, 2, 3].flatMap((day) => pairedRows([me, newUser("p")], Date.UTC(2031, 1, day)).rows);
    const recent = pairedRows([newUser("a"), newUser("b")], Date.now() - 60_000).rows;
    await database(async (db) => {
      await deliverRecords(db, bucket, outbox(...mine, ...aliceAndBob.rows));
      await deliverRecords(db, recentBucket, outbox(...recent), recentTenant);
    });
  });

  it("GET /matches/{id} shows the record to its participants; anyone else gets 404", async () => {
    const { m, ra } = aliceAndBob;
    const forAlice = await get(`/matches/${m.id}`, alice);
    expect(forAlice.status).toBe(200);
    expect(forAlice.headers.get("cache-control")).toBe("no-store");
    expect(matchRecordSchema.parse(await forAlice.json())).toEqual({
      id: m.id,
      difficulty: "medium",
      topic: bucket.topic,
      status: "proposed",
      userIds: [alice, bob],
      partnerId: bob,
      requestId: ra.id,
      role: "interviewer",
      partnerRole: "interviewee",
      createdAt: new Date(m.createdAt).toISOString(),
      confirmedAt: null,
      cancelledAt: null,
      reason: null,
      questionId: null,
      collaborationSessionId: null,
    });

    const forEve = await get(`/matches/${m.id}`, eve);
    expect(forEve.status).toBe(404);
    expect(await forEve.json()).toMatchObject({ error: { code: "not_found" } });
    // Not a match id at all: 404 without asking the database.
    expect((await get("/matches/not-a-match-id", alice)).status).toBe(404);
    const anonymous = await get(`/matches/${m.id}`);
    expect(anonymous.status).toBe(401);
    expect(anonymous.headers.get("www-authenticate")).toMatch(/^Bearer/);
  });

  it("GET /matches/{id} and GET /me/matches show each participant their own role", async () => {
    const [carol, dave] = [newUser("carol"), newUser("dave")];
    // Paired with carol first, but carol is the one interviewed first.
    const withRoles = pairedRows([carol, dave], Date.UTC(2031, 3, 2), {
      parts: ["interviewee", "interviewer"],
    });
    // The same two, earlier, recorded before roles existed.
    const before = pairedRows([carol, dave], Date.UTC(2031, 3, 1));
    await database((db) =>
      deliverRecords(db, bucket, [...outbox(...withRoles.rows), ...before.rows.map(fromBeforeRoles)]),
    );

    const views = {
      [carol]: { role: "interviewee", partnerRole: "interviewer", partnerId: dave },
      [dave]: { role: "interviewer", partnerRole: "interviewee", partnerId: carol },
    };
    for (const [user, view] of Object.entries(views)) {
      const one = await get(`/matches/${withRoles.m.id}`, user);
      expect(one.status, user).toBe(200);
      expect(matchRecordSchema.parse(await one.json()), user).toMatchObject(view);

      const page = matchHistorySchema.parse(await (await get("/me/matches", user)).json());
      expect(
        page.matches.map((m) => [m.id, m.role, m.partnerRole]),
        user,
      ).toEqual([
        [withRoles.m.id, view.role, view.partnerRole],
        [before.m.id, null, null],
      ]);
    }
  });

  it("GET /me/matches pages with an opaque cursor and validates limit and cursor", async () => {
    const first = await get("/me/matches?limit=2", me);
    expect(first.status).toBe(200);
    expect(first.headers.get("cache-control")).toBe("no-store");
    const page1 = matchHistorySchema.parse(await first.json());
    expect(page1.matches.map((m) => m.createdAt)).toEqual([
      new Date(Date.UTC(2031, 1, 3)).toISOString(),
      new Date(Date.UTC(2031, 1, 2)).toISOString(),
    ]);
    const page2 = matchHistorySchema.parse(
      await (await get(`/me/matches?cursor=${page1.nextCursor}`, me)).json(),
    );
    expect(page2.matches.map((m) => m.createdAt)).toEqual([new Date(Date.UTC(2031, 1, 1)).toISOString()]);
    expect(page2.nextCursor).toBeNull();

    for (const bad of [
      "limit=0",
      "limit=101",
      "limit=abc",
      "limit=2.5",
      "cursor=not-a-cursor!",
      "cursor=eyJ4IjoxfQ",
    ]) {
      const res = await get(`/me/matches?${bad}`, me);
      expect(res.status, bad).toBe(400);
      expect(await res.json(), bad).toMatchObject({
        error: { code: "validation_failed", details: expect.any(Array) },
      });
    }
    expect((await get("/me/matches")).status).toBe(401);
  });

  it("GET /topics/popular answers the window and validates limit and hours", async () => {
    const before = Date.now();
    const res = await get("/topics/popular?limit=50&hours=2", "someone", recentTenant);
    expect(res.status).toBe(200);
    const body = popularTopicsSchema.parse(await res.json());
    expect(body.hours).toBe(2);
    expect(Math.abs(Date.parse(body.since) - (before - 2 * 3_600_000))).toBeLessThan(5_000);
    expect(body.topics).toEqual([
      { topic: recentBucket.topic, matches: 1, byDifficulty: { easy: 0, medium: 0, hard: 1 } },
    ]);
    for (const bad of ["limit=0", "limit=51", "hours=0", "hours=721", "hours=-1", "hours=x"]) {
      expect((await get(`/topics/popular?${bad}`, "someone")).status, bad).toBe(400);
    }
    expect((await get("/topics/popular")).status).toBe(401);
  });

  it("answers 503 database_unavailable when the database cannot be reached", async () => {
    // The operator's log line is expected here: kept out of the test output, and checked.
    const logged = vi.spyOn(console, "error").mockImplementation(() => {});
    const down = api({ DATABASE_URL: UNREACHABLE_DATABASE });
    for (const path of [`/matches/${newMatchId()}`, "/me/matches", "/topics/popular"]) {
      const started = Date.now();
      const res = await down(path, "someone");
      expect(res.status, path).toBe(503);
      expect(await res.json()).toMatchObject({ error: { code: "database_unavailable" } });
      expect(res.headers.get("retry-after")).toBe("5");
      expect(Date.now() - started).toBeLessThan(9_000);
    }
    expect(logged).toHaveBeenCalledTimes(3);
    expect(logged).toHaveBeenCalledWith(expect.stringMatching(/^history: database unavailable: /));
    logged.mockRestore();
  });
});

import { env, evictDurableObject, runDurableObjectAlarm, runInDurableObject } from "cloudflare:test";
import { count, eq } from "drizzle-orm";
import { afterEach, describe, expect, inject, it, vi } from "vitest";
import { withDatabase } from "../../src/db/connect.ts";
import { matches, matchRequests } from "../../src/db/schema.ts";
import { matchHistorySchema, popularTopicsSchema } from "../../src/records/recordSchemas.ts";
import { api } from "./httpClient.ts";
import { bucketStub, matchedPair, uniqueRoom, userIn } from "./socketClient.ts";

/** Cut or restore the Worker's link to Postgres (test/setup/switchableLink.ts). */
async function database(state: "up" | "down") {
  const res = await fetch(`${inject("databaseSwitchUrl")}/${state}`, { method: "POST" });
  expect(await res.json()).toEqual({ up: state === "up" });
}

async function outboxSize(room: string): Promise<number> {
  return runInDurableObject(bucketStub(room), (_actor, state) =>
    Number(state.storage.sql.exec<{ n: number }>("SELECT count(*) AS n FROM outbox").one().n),
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

/** Run the actor's alarm as if `ms` had passed (delivery backs off after failures). */
async function alarmAfter(room: string, ms: number) {
  vi.useFakeTimers({ toFake: ["Date"] });
  vi.setSystemTime(Date.now() + ms);
  await runDurableObjectAlarm(bucketStub(room));
  vi.useRealTimers();
}

/** Play `pairs` complete matches in `room`: both sides confirm and get match_ready. */
async function playMatches(room: string, pairs: number) {
  for (let i = 0; i < pairs; i++) {
    const { a, b, matchId } = await matchedPair(room, `a${i}`, `b${i}`);
    a.send({ type: "confirm", matchId });
    await b.next("partner_confirmed");
    b.send({ type: "confirm", matchId });
    await a.next("match_ready");
    await b.next("match_ready");
  }
}

afterEach(async () => {
  vi.useRealTimers();
  await database("up");
});

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
    await database("down");
    await playMatches(room, 3);
    const queued = await outboxSize(room);
    expect(queued).toBeGreaterThanOrEqual(9);
    // Delivery fails and backs off; nothing leaves the outbox.
    await alarmAfter(room, 1_000);
    expect(await outboxSize(room)).toBe(queued);
    await database("up");
    await alarmAfter(room, 120_000);
    expect(await outboxSize(room)).toBe(0);
    expect(await rowsFor(room)).toEqual({ requests: 6, matches: 3, statuses: Array(6).fill("CONFIRMED") });
    // Running the drain again writes nothing twice.
    await alarmAfter(room, 240_000);
    expect(await rowsFor(room)).toEqual({ requests: 6, matches: 3, statuses: Array(6).fill("CONFIRMED") });
  });

  it("an actor evicted with a pending outbox still delivers it", async () => {
    const room = uniqueRoom();
    await database("down");
    await playMatches(room, 1);
    await alarmAfter(room, 1_000);
    expect(await outboxSize(room)).toBeGreaterThan(0);
    await evictDurableObject(bucketStub(room));
    await database("up");
    await alarmAfter(room, 120_000);
    expect(await outboxSize(room)).toBe(0);
    expect(await rowsFor(room)).toMatchObject({ requests: 2, matches: 1 });
  });

  it("drains a backlog of thousands of entries over a few connections, every row once", async () => {
    const room = uniqueRoom();
    await database("down");
    await playMatches(room, 2);
    // Copy the entries (same rows, newer versions) until the backlog spans many batches.
    const backlog = await runInDurableObject(bucketStub(room), (_actor, state) => {
      while (state.storage.sql.exec<{ n: number }>("SELECT count(*) AS n FROM outbox").one().n < 4_500) {
        state.storage.sql.exec("INSERT INTO outbox (kind, body) SELECT kind, body FROM outbox");
      }
      return state.storage.sql.exec<{ n: number }>("SELECT count(*) AS n FROM outbox").one().n;
    });
    await database("up");
    // Each delivery sends a bounded share over one connection, then asks to go on at once.
    let deliveries = 0;
    while ((await outboxSize(room)) > 0 && deliveries < 10) {
      deliveries++;
      await alarmAfter(room, 120_000 * deliveries);
    }
    expect(await outboxSize(room)).toBe(0);
    expect(deliveries).toBeGreaterThan(1);
    // Fewer connections than batches of 500: a connection carries several batches.
    expect(deliveries).toBeLessThan(backlog / 500);
    expect(await rowsFor(room)).toEqual({ requests: 4, matches: 2, statuses: Array(4).fill("CONFIRMED") });
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

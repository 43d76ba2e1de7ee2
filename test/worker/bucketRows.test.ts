import { env } from "cloudflare:test";
import { eq } from "drizzle-orm";
import { afterEach, describe, expect, it, vi } from "vitest";
import { ENDED_ROW_RETENTION_MS } from "../../src/bucket/bucketStorage.ts";
import { withDatabase } from "../../src/db/connect.ts";
import { matches, matchRequests } from "../../src/db/schema.ts";
import { type RowCounts, rowsWritten, watchRows } from "./rowCounts.ts";
import { advanceAndRunAlarm, bucketStub, join, matchedPair, uniqueRoom } from "./socketClient.ts";

afterEach(() => {
  vi.useRealTimers();
});

/** Statuses Postgres holds for the bucket's requests and matches. */
async function recorded(room: string) {
  return withDatabase(env.DATABASE_URL!, env.NEON_WS_PROXY, async (db) => {
    const r = await db
      .select({ s: matchRequests.status })
      .from(matchRequests)
      .where(eq(matchRequests.bucket, room));
    const m = await db.select({ s: matches.status }).from(matches).where(eq(matches.bucket, room));
    return { requests: r.map((x) => x.s).sort(), matches: m.map((x) => x.s) };
  });
}

/** Deliver what is owed to Postgres, then prune once the ended rows are past their retention. */
async function deliverThenPrune(room: string): Promise<{ delivered: RowCounts; pruned: RowCounts }> {
  const stub = bucketStub(room);
  expect(await advanceAndRunAlarm(room, 2_000, vi)).toBe(true);
  const delivered = await rowsWritten(stub);
  expect(await advanceAndRunAlarm(room, ENDED_ROW_RETENTION_MS + 10 * 60_000, vi)).toBe(true);
  const pruned = await rowsWritten(stub);
  return { delivered, pruned };
}

/**
 * What a bucket's own storage writes for one user's outcome, counted by the runtime (see
 * rowCounts.ts): its share of the cost of a match, and of a request that ends without one.
 */
describe("rows a bucket writes", () => {
  it("for a confirmed match over the socket, outbox delivered and ended rows pruned", async () => {
    const room = uniqueRoom();
    const stub = bucketStub(room);
    await watchRows(stub);
    const { a, b, matchId } = await matchedPair(room, "a", "b");
    a.send({ type: "confirm", matchId });
    await b.next("partner_confirmed");
    b.send({ type: "confirm", matchId });
    await a.next("match_ready");
    await b.next("match_ready");
    const { delivered, pruned } = await deliverThenPrune(room);
    vi.useRealTimers();
    expect(await recorded(room)).toEqual({ requests: ["CONFIRMED", "CONFIRMED"], matches: ["confirmed"] });
    console.log("confirmed match", JSON.stringify({ delivered, pruned }));
  });

  it("for a request cancelled by leave", async () => {
    const room = uniqueRoom();
    const stub = bucketStub(room);
    await watchRows(stub);
    const { socket } = await join(room, "a");
    socket.send({ type: "leave" });
    await socket.next("cancelled");
    const { delivered, pruned } = await deliverThenPrune(room);
    vi.useRealTimers();
    expect(await recorded(room)).toEqual({ requests: ["CANCELLED"], matches: [] });
    console.log("cancelled", JSON.stringify({ delivered, pruned }));
  });

  it("for a request that times out", async () => {
    const room = uniqueRoom();
    const stub = bucketStub(room);
    await watchRows(stub);
    const { socket } = await join(room, "a");
    expect(await advanceAndRunAlarm(room, 61_000, vi)).toBe(true);
    await socket.next("timeout");
    const { delivered, pruned } = await deliverThenPrune(room);
    vi.useRealTimers();
    expect(await recorded(room)).toEqual({ requests: ["TIMED_OUT"], matches: [] });
    console.log("timed out", JSON.stringify({ delivered, pruned }));
  });
});

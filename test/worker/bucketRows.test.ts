import { env } from "cloudflare:test";
import { eq } from "drizzle-orm";
import { afterEach, describe, expect, it, vi } from "vitest";
import { ENDED_ROW_RETENTION_MS } from "../../src/bucket/bucketStorage.ts";
import { withDatabase } from "../../src/db/connect.ts";
import { matches, matchRequests } from "../../src/db/schema.ts";
import { type RowCounts, rowsWritten, watchRows } from "./rowCounts.ts";
import { advanceAndRunAlarm, bucketStub, confirmedPair, join, uniqueRoom } from "./socketClient.ts";

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

/** Rows written through SQL (the object's own tables), leaving out alarms and KV calls. */
function sqlRows(counts: RowCounts): number {
  return Object.entries(counts.byTable)
    .filter(([table]) => !table.startsWith("("))
    .reduce((sum, [, n]) => sum + n, 0);
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
    await confirmedPair(room, "a", "b");
    const { delivered, pruned } = await deliverThenPrune(room);
    vi.useRealTimers();
    expect(await recorded(room)).toEqual({ requests: ["CONFIRMED", "CONFIRMED"], matches: ["confirmed"] });
    console.log("confirmed match", JSON.stringify({ delivered, pruned }));
    // Each step writes each changed row once (five request writes, three match writes), plus the
    // socket's token expiry and the delivery's watermark; the prune deletes the three rows.
    expect(sqlRows(delivered)).toBeLessThanOrEqual(10);
    expect(sqlRows(pruned)).toBeLessThanOrEqual(14);
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
    expect(sqlRows(delivered)).toBeLessThanOrEqual(4);
    expect(sqlRows(pruned)).toBeLessThanOrEqual(6);
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
    expect(sqlRows(delivered)).toBeLessThanOrEqual(4);
    expect(sqlRows(pruned)).toBeLessThanOrEqual(6);
  });
});

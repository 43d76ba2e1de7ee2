import { describe, expect, it } from "vitest";
import type { MeterSnapshot } from "./meterSnapshot.ts";
import { PRICES } from "./prices.ts";
import {
  billedRequests,
  perOutcome,
  type RowsScenario,
  rowsResult,
  usageBetween,
  usdPerMillion,
} from "./rows.ts";
import { tableOf } from "./sqlTable.ts";

const snap = (rows: MeterSnapshot["rows"], requests: MeterSnapshot["requests"]): MeterSnapshot => ({
  rows,
  requests,
  size: {},
  lateRows: 0,
  clockOffsetMs: 0,
});

describe("usageBetween", () => {
  it("keeps what changed between two readings, by class and table, and new classes whole", () => {
    const a = snap({ Bucket: { outbox: 10, requests: 4 } }, { Bucket: { rpc: 3, wsMessage: 10 } });
    const b = snap(
      { Bucket: { outbox: 16, requests: 4, matches: 2 }, Registry: { claims: 2 } },
      { Bucket: { rpc: 5, wsMessage: 30 }, Registry: { rpc: 1 } },
    );
    expect(usageBetween(a, b)).toEqual({
      rows: { Bucket: { outbox: 6, matches: 2 }, Registry: { claims: 2 } },
      requests: { Bucket: { rpc: 2, wsMessage: 20 }, Registry: { rpc: 1 } },
    });
  });
});

describe("prices", () => {
  it("bills WebSocket messages at 20 to one request, and calls, fetches and alarms whole", () => {
    expect(billedRequests({ rpc: 2, fetch: 1, alarm: 1, wsMessage: 40 }, PRICES)).toBe(6);
  });

  it("prices a million outcomes at $1 per million rows and $0.15 per million requests", () => {
    expect(usdPerMillion(62, 9, PRICES)).toBeCloseTo(62 + 1.35, 10);
    expect(PRICES.asOf).toBe("2026-12-07");
  });
});

describe("perOutcome", () => {
  it("adds the prune to the live rows and divides by the outcomes", () => {
    const live = {
      rows: { Bucket: { outbox: 24, requests: 12 }, Registry: { claims: 4, recent: 2 } },
      requests: { Bucket: { fetch: 2, rpc: 2, wsMessage: 4 }, Registry: { rpc: 4 } },
    };
    const prune = {
      rows: { Bucket: { requests: 2 }, Registry: { recent: 2 } },
      requests: { Bucket: { alarm: 1 } },
    };
    const per = perOutcome(live, prune, 2, PRICES);
    expect(per.rowsLive).toBe(21);
    expect(per.rowsPrune).toBe(2);
    expect(per.rows).toBe(23);
    expect(per.rowsByTable).toEqual({
      Bucket: { outbox: 12, requests: 7 },
      Registry: { claims: 2, recent: 2 },
    });
    // (2 + 2 + 4/20 + 4 + 1) / 2
    expect(per.requests).toBe(4.6);
    expect(per.requestsByClass).toEqual({ Bucket: 2.6, Registry: 2 });
    expect(per.webSocketMessages).toBe(2);
    expect(per.usd).toBe(Math.round((23 + 4.6 * 0.15) * 100) / 100);
  });

  it("charges nothing to no outcomes", () => {
    const per = perOutcome({ rows: { B: { t: 5 } }, requests: {} }, { rows: {}, requests: {} }, 0, PRICES);
    expect(per.rows).toBe(0);
  });
});

describe("rowsResult", () => {
  const scenario = (name: string, outcome: RowsScenario["outcome"], rows: number, requests: number) => {
    const live = { rows: { B: { t: rows } }, requests: { B: { rpc: requests } } };
    const none = { rows: {}, requests: {} };
    return { name, outcome, count: 1, live, prune: none, per: perOutcome(live, none, 1, PRICES) };
  };

  it("heads with the quiet match, the busy one beside it, then cancelled and timed out", () => {
    const r = rowsResult(
      [
        scenario("quiet", "match", 60, 10),
        scenario("watched", "matchWithChannels", 70, 23),
        scenario("busy", "match", 50, 4),
        scenario("left", "cancelled", 20, 5),
        scenario("late", "timedOut", 25, 8),
      ],
      { size: {}, lateRows: 0 },
      PRICES,
    );
    expect(r.rowsPerMatch).toBe(60);
    expect(r.rowsPerMatchBusy).toBe(50);
    expect([r.rowsPerMatchWithChannels, r.requestsPerMatchWithChannels]).toEqual([70, 23]);
    expect(r.rowsPerCancelled).toBe(20);
    expect(r.rowsPerTimedOut).toBe(25);
    expect(r.requestsPerMatch).toBe(10);
    expect(r.usdPerMillionMatches).toBe(61.5);
  });
});

describe("tableOf", () => {
  it("names the table each kind of write goes to", () => {
    expect(tableOf("INSERT INTO outbox (k) VALUES (?)")).toBe("outbox");
    expect(tableOf("  INSERT OR REPLACE INTO claims VALUES (?)")).toBe("claims");
    expect(tableOf("REPLACE INTO meta VALUES (1)")).toBe("meta");
    expect(tableOf("UPDATE requests SET x = 1")).toBe("requests");
    expect(tableOf("DELETE FROM recent WHERE at < ?")).toBe("recent");
    expect(tableOf("-- a note\nDELETE FROM partners")).toBe("partners");
    expect(tableOf("CREATE TABLE IF NOT EXISTS t (a)")).toBe("(schema)");
    expect(tableOf("SELECT 1")).toBe("(other)");
    expect(tableOf("INSERT INTO __miniflare_do_name VALUES (?)")).toBeNull();
  });
});

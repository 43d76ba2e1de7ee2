import type { MeterSnapshot, RequestKind } from "./meterSnapshot.ts";
import type { Prices } from "./prices.ts";

/**
 * Rows written and object requests per outcome, from two readings of the metered runtime's
 * counters (bench/storage/), and what they cost at list prices. Pure arithmetic; the phase that
 * takes the readings is bench/rowsPhase.ts.
 */

/** Rows by class and table, requests by class and kind: what happened between two readings. */
export type Usage = {
  rows: Record<string, Record<string, number>>;
  requests: Record<string, Partial<Record<RequestKind, number>>>;
};

/** `matchWithChannels`: a confirmed match whose two users have their own channel open. */
export type Outcome = "match" | "matchWithChannels" | "cancelled" | "timedOut";

/** One scenario: `count` outcomes of one kind, then the prune of what they left. */
export type RowsScenario = {
  name: string;
  outcome: Outcome;
  count: number;
  /** From the first join until everything settled (records delivered, figures reported). */
  live: Usage;
  /** The prune once retention ran out (the clock moved ahead, due alarms fired). */
  prune: Usage;
  /** Per outcome, live + prune. */
  per: PerOutcome;
};

export type PerOutcome = {
  rows: number;
  rowsLive: number;
  rowsPrune: number;
  /** class -> table -> rows, live + prune. */
  rowsByTable: Record<string, Record<string, number>>;
  /** Requests as billed: calls, fetches and alarms, plus WebSocket messages at the 20:1 rate. */
  requests: number;
  requestsByClass: Record<string, number>;
  /** WebSocket messages into objects, unbilled count. */
  webSocketMessages: number;
  usd: number;
};

export type RowsResult = {
  prices: Prices;
  scenarios: RowsScenario[];
  /** Sum of every object's `databaseSize` at the end, bytes, by class. */
  size: MeterSnapshot["size"];
  /** Rows a cursor showed only after its first step (0: counting at once saw everything). */
  lateRows: number;
  rowsPerMatch: number | null;
  rowsPerMatchBusy: number | null;
  /** A quiet match with both users' own channels open (`/parties/user/{id}`). */
  rowsPerMatchWithChannels: number | null;
  requestsPerMatchWithChannels: number | null;
  rowsPerCancelled: number | null;
  rowsPerTimedOut: number | null;
  requestsPerMatch: number | null;
  usdPerMillionMatches: number | null;
};

/** b - a, leaving out what did not change. */
export function usageBetween(a: MeterSnapshot | Usage, b: MeterSnapshot | Usage): Usage {
  const rows: Usage["rows"] = {};
  for (const [cls, tables] of Object.entries(b.rows)) {
    for (const [table, n] of Object.entries(tables)) {
      const d = n - (a.rows[cls]?.[table] ?? 0);
      if (d !== 0) slot(rows, cls)[table] = d;
    }
  }
  const requests: Usage["requests"] = {};
  for (const [cls, kinds] of Object.entries(b.requests)) {
    for (const [kind, n] of Object.entries(kinds) as Array<[RequestKind, number]>) {
      const d = n - (a.requests[cls]?.[kind] ?? 0);
      if (d !== 0) slot(requests, cls)[kind] = d;
    }
  }
  return { rows, requests };
}

export function totalRows(u: Usage): number {
  let n = 0;
  for (const tables of Object.values(u.rows)) for (const v of Object.values(tables)) n += v;
  return n;
}

/** Requests as billed: every call, fetch and alarm, and one per `messagesPerRequest` messages. */
export function billedRequests(kinds: Partial<Record<RequestKind, number>>, prices: Prices): number {
  return (
    (kinds.rpc ?? 0) +
    (kinds.fetch ?? 0) +
    (kinds.alarm ?? 0) +
    (kinds.wsMessage ?? 0) / prices.webSocketMessagesPerRequest
  );
}

/** Dollars per million outcomes that each write `rows` rows and make `requests` billed requests. */
export function usdPerMillion(rows: number, requests: number, prices: Prices): number {
  return rows * prices.usdPerMillionRowsWritten + requests * prices.usdPerMillionRequests;
}

function addInto(into: Record<string, Record<string, number>>, from: Usage["rows"], scale: number): void {
  for (const [cls, tables] of Object.entries(from))
    for (const [table, n] of Object.entries(tables)) {
      const byTable = slot(into, cls);
      byTable[table] = (byTable[table] ?? 0) + n * scale;
    }
}

/** Per-outcome figures of a scenario: live + prune, divided by the number of outcomes. */
export function perOutcome(live: Usage, prune: Usage, count: number, prices: Prices): PerOutcome {
  const k = count > 0 ? 1 / count : 0;
  const rowsByTable: Record<string, Record<string, number>> = {};
  addInto(rowsByTable, live.rows, k);
  addInto(rowsByTable, prune.rows, k);
  for (const tables of Object.values(rowsByTable))
    for (const table of Object.keys(tables)) tables[table] = round2(tables[table]!);
  const requestsByClass: Record<string, number> = {};
  let requests = 0;
  let webSocketMessages = 0;
  for (const u of [live, prune]) {
    for (const [cls, kinds] of Object.entries(u.requests)) {
      const billed = billedRequests(kinds, prices) * k;
      requestsByClass[cls] = (requestsByClass[cls] ?? 0) + billed;
      requests += billed;
      webSocketMessages += (kinds.wsMessage ?? 0) * k;
    }
  }
  for (const cls of Object.keys(requestsByClass)) requestsByClass[cls] = round2(requestsByClass[cls]!);
  const rowsLive = totalRows(live) * k;
  const rowsPrune = totalRows(prune) * k;
  return {
    rows: round2(rowsLive + rowsPrune),
    rowsLive: round2(rowsLive),
    rowsPrune: round2(rowsPrune),
    rowsByTable,
    requests: round2(requests),
    requestsByClass,
    webSocketMessages: round2(webSocketMessages),
    usd: round2(usdPerMillion(rowsLive + rowsPrune, requests, prices)),
  };
}

/**
 * The run's figures: a match in a quiet bucket (each pair alone, as at low traffic) is the
 * headline, the busy bucket beside it; cancelled and timed-out requests each alone too.
 */
export function rowsResult(
  scenarios: RowsScenario[],
  end: Pick<MeterSnapshot, "size" | "lateRows">,
  prices: Prices,
): RowsResult {
  const first = (outcome: Outcome) =>
    scenarios.find((s) => s.outcome === outcome && s.count > 0)?.per ?? null;
  const match = first("match");
  const busy = scenarios.filter((s) => s.outcome === "match" && s.count > 0)[1]?.per ?? null;
  return {
    prices,
    scenarios,
    size: end.size,
    lateRows: end.lateRows,
    rowsPerMatch: match?.rows ?? null,
    rowsPerMatchBusy: busy?.rows ?? null,
    rowsPerMatchWithChannels: first("matchWithChannels")?.rows ?? null,
    requestsPerMatchWithChannels: first("matchWithChannels")?.requests ?? null,
    rowsPerCancelled: first("cancelled")?.rows ?? null,
    rowsPerTimedOut: first("timedOut")?.rows ?? null,
    requestsPerMatch: match?.requests ?? null,
    usdPerMillionMatches: match?.usd ?? null,
  };
}

/** `record[key]`, created empty when missing. */
function slot<V>(record: Record<string, Record<string, V>>, key: string): Record<string, V> {
  const found = record[key];
  if (found) return found;
  const made: Record<string, V> = {};
  record[key] = made;
  return made;
}

export function round2(x: number): number {
  return Math.round(x * 100) / 100;
}

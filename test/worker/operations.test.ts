import { env, evictDurableObject, runInDurableObject, SELF } from "cloudflare:test";
import parsePrometheusTextFormat, { type MetricFamily } from "parse-prometheus-text-format";
import { afterEach, describe, expect, it, vi } from "vitest";
import { directory } from "../../src/actors.ts";
import { app } from "../../src/http/app.ts";
import {
  activityAnswer,
  maintenanceAnswer,
  queueSummaryAnswer,
  statusAnswer,
} from "../../src/protocol/http.ts";
import { API, newUser } from "./httpClient.ts";
import { advanceAndRunAlarm, TestSocket, tokenFor, uniqueRoom } from "./socketClient.ts";

/**
 * docs/operations.md: `/status`, `/metrics` (read with a real Prometheus text parser), the
 * admin endpoints, and maintenance switched at runtime. Each test that switches something works
 * in a tenant of its own, so no other test sees its switch.
 */

afterEach(() => {
  vi.useRealTimers();
});

const newTenant = () => `ops-${crypto.randomUUID().slice(0, 8)}`;

async function call(
  path: string,
  init: { method?: string; body?: unknown; claims?: Record<string, unknown>; user?: string | null } = {},
): Promise<Response> {
  const headers: Record<string, string> = { "content-type": "application/json" };
  if (init.user !== null) {
    headers.authorization = `Bearer ${await tokenFor(init.user ?? newUser("u"), { claims: init.claims ?? {} })}`;
  }
  return SELF.fetch(path.startsWith("/metrics") ? `https://matcher.test${path}` : `${API}${path}`, {
    method: init.method ?? "GET",
    headers,
    body: init.body === undefined ? undefined : JSON.stringify(init.body),
  });
}

async function joinIn(tenant: string, room: string, userId: string): Promise<TestSocket> {
  const token = await tokenFor(userId, { claims: { tenant_id: tenant } });
  const res = await SELF.fetch(`https://matcher.test/parties/bucket/${room}?token=${token}`, {
    headers: { Upgrade: "websocket" },
  });
  if (!res.webSocket) throw new Error(`upgrade refused: ${res.status} ${await res.text()}`);
  res.webSocket.accept();
  return new TestSocket(res.webSocket);
}

/** The scrape as the parser reads it: each sample's value by name and labels. */
async function scrape(): Promise<{
  value: (name: string, labels?: Record<string, string>) => number;
  families: MetricFamily[];
}> {
  const res = await call("/metrics", { user: null });
  expect(res.status).toBe(200);
  expect(res.headers.get("content-type")).toMatch(/^text\/plain; version=0\.0\.4/);
  const families = parsePrometheusTextFormat(await res.text());
  const value = (name: string, labels: Record<string, string> = {}) => {
    const family = families.find((f) => f.name === name);
    if (!family) throw new Error(`no ${name} in the scrape`);
    // A histogram's count, or with `{ of: "sum" }` its sum.
    if (family.type === "HISTOGRAM")
      return Number(family.metrics[0]?.[labels.of === "sum" ? "sum" : "count"] ?? 0);
    const sample = family.metrics.find((m) => Object.entries(labels).every(([k, v]) => m.labels?.[k] === v));
    return Number(sample?.value ?? 0);
  };
  return { value, families };
}

describe("/metrics", () => {
  it("is Prometheus text with every metric the contract names, and its values move as a flow runs", async () => {
    const before = await scrape();
    const types = Object.fromEntries(before.families.map((f) => [f.name, f.type]));
    expect(types).toMatchObject({
      matcher_joins_total: "COUNTER",
      matcher_matches_total: "COUNTER",
      matcher_match_cancellations_total: "COUNTER",
      matcher_queue_timeouts_total: "COUNTER",
      matcher_waiting_requests: "GAUGE",
      matcher_wait_seconds: "HISTOGRAM",
    });
    const tenant = newTenant();
    const room = uniqueRoom();
    const a = await joinIn(tenant, room, "a");
    await a.next("queued");
    const b = await joinIn(tenant, room, "b");
    const { matchId } = await a.next("match_found");
    await b.next("queued");
    await b.next("match_found");
    b.send({ type: "decline", matchId });
    await a.next("match_cancelled");
    await a.next("queued");
    // Reports leave a second after the change; poll the scrape rather than guess.
    await expect
      .poll(async () => (await scrape()).value("matcher_match_cancellations_total", { reason: "declined" }), {
        timeout: 5_000,
        interval: 250,
      })
      .toBe(before.value("matcher_match_cancellations_total", { reason: "declined" }) + 1);
    const after = await scrape();
    expect(after.value("matcher_joins_total")).toBe(before.value("matcher_joins_total") + 2);
    const outcome = (s: typeof before, o: string) => s.value("matcher_matches_total", { outcome: o });
    expect(outcome(after, "proposed")).toBe(outcome(before, "proposed") + 1);
    expect(outcome(after, "cancelled")).toBe(outcome(before, "cancelled") + 1);
    expect(after.value("matcher_wait_seconds")).toBe(before.value("matcher_wait_seconds") + 2);
    // a waited while b joined: a little time, but some.
    expect(after.value("matcher_wait_seconds", { of: "sum" })).toBeGreaterThan(
      before.value("matcher_wait_seconds", { of: "sum" }),
    );
    expect(after.value("matcher_waiting_requests")).toBeGreaterThanOrEqual(1);
    // a waits alone until its queue timeout, driven by the alarm.
    await advanceAndRunAlarm(`${tenant}~${room}`, 61_000, vi);
    vi.useRealTimers();
    await expect
      .poll(async () => (await scrape()).value("matcher_queue_timeouts_total"), {
        timeout: 5_000,
        interval: 250,
      })
      .toBe(before.value("matcher_queue_timeouts_total") + 1);
  });

  it("asks for METRICS_TOKEN when it is set", async () => {
    const guarded = { ...env, METRICS_TOKEN: "scrape-secret" };
    expect((await app.request("/metrics", {}, guarded)).status).toBe(401);
    const wrong = await app.request("/metrics", { headers: { authorization: "Bearer nope" } }, guarded);
    expect(wrong.status).toBe(401);
    const ok = await app.request("/metrics", { headers: { authorization: "Bearer scrape-secret" } }, guarded);
    expect(ok.status).toBe(200);
    const lower = await app.request(
      "/metrics",
      { headers: { authorization: "bearer scrape-secret" } },
      guarded,
    );
    expect(lower.status, "the scheme is case-insensitive").toBe(200);
    const longer = await app.request(
      "/metrics",
      { headers: { authorization: "Bearer scrape-secret2" } },
      guarded,
    );
    expect(longer.status).toBe(401);
  });
});

describe("/status", () => {
  it("answers the live figures without a token, and they follow a waiting request", async () => {
    const first = statusAnswer.parse(await (await call("/status", { user: null })).json());
    expect(first).toMatchObject({ version: "test", db: "up", status: "ok", maintenance: false });
    const tenant = newTenant();
    const socket = await joinIn(tenant, uniqueRoom(), "w");
    await socket.next("queued");
    await expect
      .poll(
        async () => statusAnswer.parse(await (await call("/status", { user: null })).json()).buckets.waiting,
        {
          timeout: 5_000,
          interval: 250,
        },
      )
      .toBe(first.buckets.waiting + 1);
    socket.send({ type: "leave" });
    await socket.closed();
    await expect
      .poll(
        async () => statusAnswer.parse(await (await call("/status", { user: null })).json()).buckets.waiting,
        {
          timeout: 5_000,
          interval: 250,
        },
      )
      .toBe(first.buckets.waiting);
  });
});

describe("the directory", () => {
  it("does not count a bucket whose last report was lost long ago as active", async () => {
    const tenant = newTenant();
    const admin = { claims: { tenant_id: tenant, role: "admin" } };
    const before = statusAnswer.parse(await (await call("/status", { user: null })).json());
    // A bucket that said "3 waiting" and then never reported again (its last report lost in a
    // restart), longer ago than any request can live.
    await runInDurableObject(directory(env), (_d, state) => {
      state.storage.sql.exec(
        "INSERT INTO buckets (tenant, room, waiting, live, p50, p95, at) VALUES (?, 'easy.ghost', 3, 3, NULL, NULL, ?)",
        tenant,
        Date.now() - 3 * 3_600_000,
      );
    });
    const after = statusAnswer.parse(await (await call("/status", { user: null })).json());
    expect(after.buckets).toEqual(before.buckets);
    const summary = queueSummaryAnswer.parse(await (await call("/internal/queues/summary", admin)).json());
    expect(summary).toEqual([]);
  });
});

/** The directory's tables as the version before one row per report wrote them. */
const DIRECTORY_V1_SCHEMA = `
  CREATE TABLE IF NOT EXISTS buckets (tenant TEXT NOT NULL, room TEXT NOT NULL,
    waiting INTEGER NOT NULL, live INTEGER NOT NULL, p50 INTEGER, p95 INTEGER,
    at INTEGER NOT NULL, PRIMARY KEY (tenant, room)) WITHOUT ROWID;
  CREATE INDEX IF NOT EXISTS buckets_live ON buckets (tenant) WHERE live > 0;
  CREATE TABLE IF NOT EXISTS minutes (tenant TEXT NOT NULL, room TEXT NOT NULL,
    minute INTEGER NOT NULL, matches INTEGER NOT NULL,
    PRIMARY KEY (tenant, room, minute)) WITHOUT ROWID;
  CREATE TABLE IF NOT EXISTS counters (name TEXT NOT NULL, labels TEXT NOT NULL,
    value REAL NOT NULL, PRIMARY KEY (name, labels)) WITHOUT ROWID;
`;

describe("a directory written by the version before", () => {
  it("upgrades itself on wake: its totals, live buckets and last hour's matches carry on", async () => {
    const tenant = newTenant();
    const room = uniqueRoom();
    const admin = { claims: { tenant_id: tenant, role: "admin" } };
    const now = Date.now();
    const minute = Math.floor(now / 60_000);
    await runInDurableObject(directory(env), (_d, state) => {
      const sql = state.storage.sql;
      for (const t of sql
        .exec<{ name: string }>("SELECT name FROM sqlite_master WHERE type = 'table'")
        .toArray())
        if (!t.name.startsWith("_")) sql.exec(`DROP TABLE "${t.name}"`);
      sql.exec(DIRECTORY_V1_SCHEMA);
      sql.exec("INSERT INTO buckets VALUES (?, ?, 2, 2, 1500, 3000, ?)", tenant, room, now);
      // Three matches this minute; five two hours ago, no longer in the last hour.
      sql.exec("INSERT INTO minutes VALUES (?, ?, ?, 3)", tenant, room, minute);
      sql.exec("INSERT INTO minutes VALUES (?, ?, ?, 5)", tenant, room, minute - 120);
      for (const [name, labels, value] of [
        ["joins", {}, 7],
        ["matches", { outcome: "proposed" }, 3],
        ["cancellations", { reason: "declined" }, 1],
        ["wait_bucket", { i: "2" }, 4],
        ["wait_sum", {}, 1.5],
      ] as const)
        sql.exec("INSERT INTO counters VALUES (?, ?, ?)", name, JSON.stringify(labels), value);
    });
    await evictDurableObject(directory(env));

    const metrics = await scrape();
    expect(metrics.value("matcher_joins_total")).toBe(7);
    expect(metrics.value("matcher_matches_total", { outcome: "proposed" })).toBe(3);
    expect(metrics.value("matcher_match_cancellations_total", { reason: "declined" })).toBe(1);
    expect(metrics.value("matcher_wait_seconds")).toBe(4);
    expect(metrics.value("matcher_wait_seconds", { of: "sum" })).toBe(1.5);
    const status = statusAnswer.parse(await (await call("/status", { user: null })).json());
    expect(status.buckets).toEqual({ active: 1, waiting: 2 });
    expect(status.matchesLastHour).toBe(3);
    const summary = queueSummaryAnswer.parse(await (await call("/internal/queues/summary", admin)).json());
    expect(summary).toEqual([{ room, waiting: 2, p50WaitMs: 1500, p95WaitMs: 3000, matchedLastHour: 3 }]);

    // New reports add to what was carried over, in the new layout.
    const w = await joinIn(tenant, uniqueRoom(), "w");
    await w.next("queued");
    await expect.poll(async () => (await scrape()).value("matcher_joins_total"), { timeout: 5_000 }).toBe(8);
    const tables = await runInDurableObject(directory(env), (_d, state) =>
      state.storage.sql
        .exec<{ name: string }>(
          "SELECT name FROM sqlite_master WHERE type IN ('table', 'index') ORDER BY name",
        )
        .toArray()
        .map((t) => t.name)
        .filter((name) => !name.startsWith("_") && !name.startsWith("sqlite_")),
    );
    expect(tables).toEqual(["buckets", "meta"]);
  });
});

describe("admin endpoints", () => {
  it("refuse a caller without a token (401) and a non-admin (403)", async () => {
    for (const [method, path, body] of [
      ["GET", "/internal/queues/summary", undefined],
      ["GET", "/internal/activity", undefined],
      ["GET", "/internal/maintenance", undefined],
      ["PUT", "/internal/maintenance", { on: true }],
    ] as const) {
      expect((await call(path, { method, body, user: null })).status, `${method} ${path}`).toBe(401);
      const res = await call(path, { method, body, claims: { role: "user" } });
      expect(res.status, `${method} ${path}`).toBe(403);
      expect(await res.json()).toMatchObject({ error: { code: "forbidden" } });
    }
    // Nothing was switched by the refused calls.
    const state = maintenanceAnswer.parse(
      await (await call("/internal/maintenance", { claims: { role: "admin" } })).json(),
    );
    expect(state.on).toBe(false);
  });

  it("summarises the admin's own tenant's active buckets", async () => {
    const tenant = newTenant();
    const room = uniqueRoom();
    const w = await joinIn(tenant, room, "w");
    await w.next("queued");
    const other = await joinIn(newTenant(), uniqueRoom(), "x");
    await other.next("queued");
    const admin = { claims: { tenant_id: tenant, role: "admin" } };
    await expect
      .poll(
        async () => queueSummaryAnswer.parse(await (await call("/internal/queues/summary", admin)).json()),
        {
          timeout: 5_000,
          interval: 250,
        },
      )
      .toEqual([{ room, waiting: 1, p50WaitMs: null, p95WaitMs: null, matchedLastHour: 0 }]);
  });

  it("draws the admin's own tenant's last hour: matches per minute, waits, cancellations by reason", async () => {
    const tenant = newTenant();
    const admin = { claims: { tenant_id: tenant, role: "admin" } };
    const activity = async () => activityAnswer.parse(await (await call("/internal/activity", admin)).json());
    const quiet = await activity();
    expect(quiet.minutes).toHaveLength(60);
    expect(quiet.minutes.every((m) => m.proposed === 0 && m.cancelled === 0)).toBe(true);
    expect(quiet.waits.counts.reduce((a, b) => a + b, 0)).toBe(0);
    expect(quiet.waits.counts).toHaveLength(quiet.waits.leSeconds.length);
    expect(quiet.cancellations).toEqual({});

    const room = uniqueRoom();
    const a = await joinIn(tenant, room, "a");
    await a.next("queued");
    const b = await joinIn(tenant, room, "b");
    const { matchId } = await a.next("match_found");
    await b.next("queued");
    await b.next("match_found");
    b.send({ type: "decline", matchId });
    await a.next("match_cancelled");
    await a.next("queued");
    // Another tenant's match is not this admin's to see.
    const elsewhere = newTenant();
    const otherRoom = uniqueRoom();
    const x = await joinIn(elsewhere, otherRoom, "x");
    await x.next("queued");
    const y = await joinIn(elsewhere, otherRoom, "y");
    await y.next("queued");
    await y.next("match_found");

    const otherAdmin = { claims: { tenant_id: elsewhere, role: "admin" } };
    const theirs = async () =>
      activityAnswer.parse(await (await call("/internal/activity", otherAdmin)).json());
    await expect
      .poll(async () => (await theirs()).minutes.reduce((sum, m) => sum + m.proposed, 0), {
        timeout: 5_000,
        interval: 250,
      })
      .toBe(1);
    await expect
      .poll(async () => (await activity()).cancellations, { timeout: 5_000, interval: 250 })
      .toEqual({ declined: 1 });
    const seen = await activity();
    const total = (k: "proposed" | "confirmed" | "cancelled" | "queueTimeouts") =>
      seen.minutes.reduce((sum, m) => sum + m[k], 0);
    expect(total("proposed")).toBe(1);
    expect(total("cancelled")).toBe(1);
    expect(total("confirmed")).toBe(0);
    const lastTwo = seen.minutes.slice(-2).reduce((sum, m) => sum + m.proposed, 0);
    expect(lastTwo, "the match is in the current minute (or the one before, at a turn)").toBe(1);
    expect(
      seen.waits.counts.reduce((sum, n) => sum + n, 0),
      "one wait per user matched",
    ).toBe(2);
    expect(seen.queueTimeouts).toBe(0);
    expect(seen.handOvers).toEqual({ granted: 0, refused: 0 });
    expect(Date.parse(seen.to) - Date.parse(seen.from)).toBe(59 * 60_000);
  });

  it("switches maintenance at runtime: new joins refused at once, a proposed match finishes", async () => {
    const tenant = newTenant();
    const claims = { tenant_id: tenant };
    const admin = { claims: { ...claims, role: "admin" } };
    const room = uniqueRoom();
    const a = await joinIn(tenant, room, "a");
    const b = await joinIn(tenant, room, "b");
    await a.next("queued");
    const { matchId } = await a.next("match_found");
    await b.next("queued");
    await b.next("match_found");
    const on = await call("/internal/maintenance", { method: "PUT", body: { on: true }, ...admin });
    expect(maintenanceAnswer.parse(await on.json())).toMatchObject({ on: true });
    expect(maintenanceAnswer.parse(await (await call("/internal/maintenance", admin)).json()).on).toBe(true);
    const c = await joinIn(tenant, room, "c");
    expect(await c.next("error")).toMatchObject({ code: "maintenance" });
    expect(await c.closed()).toBe(1013);
    const http = await call("/request", {
      method: "POST",
      body: { difficulty: "easy", topic: "other" },
      claims,
    });
    expect(http.status).toBe(503);
    // A new challenge too (an accept would be refused anyway).
    const challenge = await call("/challenges", {
      method: "POST",
      body: { opponentId: "d", difficulty: "easy", topic: "other" },
      claims,
    });
    expect(challenge.status).toBe(503);
    expect(await challenge.json()).toMatchObject({ error: { code: "maintenance" } });
    // Someone with a live request elsewhere hears that first, as at any other time.
    const busy = await call("/request", {
      method: "POST",
      body: { difficulty: "easy", topic: "other" },
      claims,
      user: "a",
    });
    expect(busy.status).toBe(409);
    expect(await busy.json()).toMatchObject({ error: { code: "already_queued" } });
    a.send({ type: "confirm", matchId });
    b.send({ type: "confirm", matchId });
    expect(await a.closed()).toBe(1000);
    expect(await b.closed()).toBe(1000);
    // Another tenant is not affected.
    const elsewhere = await joinIn(newTenant(), room, "c");
    await elsewhere.next("queued");
    const off = await call("/internal/maintenance", { method: "PUT", body: { on: false }, ...admin });
    expect(maintenanceAnswer.parse(await off.json()).on).toBe(false);
    const c2 = await joinIn(tenant, room, "c");
    await c2.next("queued");
    const bad = await call("/internal/maintenance", { method: "PUT", body: { on: "yes" }, ...admin });
    expect(bad.status).toBe(400);
  });
});

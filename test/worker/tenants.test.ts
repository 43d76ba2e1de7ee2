import { SELF } from "cloudflare:test";
import { afterEach, describe, expect, it, vi } from "vitest";
import { errorAnswer, queueFigures, requestView } from "../../src/protocol/http.ts";
import { matchHistorySchema, popularTopicsSchema } from "../../src/records/recordSchemas.ts";
import { bucketActorName } from "../../src/tenancy.ts";
import { API, newTopic, newUser } from "./httpClient.ts";
import { advanceAndRunAlarm, TestSocket, tokenFor, uniqueRoom } from "./socketClient.ts";

/**
 * docs/operations.md, "Tenants": a user is the pair (tenant, user id); users of two tenants never meet and
 * never see each other's data. Every test uses tenants of its own.
 */

afterEach(() => {
  vi.useRealTimers();
});

const newTenant = () => `t-${crypto.randomUUID().slice(0, 8)}`;

async function joinAs(tenant: string | null, room: string, userId: string): Promise<TestSocket> {
  const token = await tokenFor(userId, { claims: tenant === null ? {} : { tenant_id: tenant } });
  const res = await SELF.fetch(`https://matcher.test/parties/bucket/${room}?token=${token}`, {
    headers: { Upgrade: "websocket" },
  });
  if (!res.webSocket) throw new Error(`upgrade refused: ${res.status} ${await res.text()}`);
  res.webSocket.accept();
  return new TestSocket(res.webSocket);
}

async function callAs(tenant: unknown, userId: string, method: string, path: string, body?: unknown) {
  const token = await tokenFor(userId, { claims: tenant === undefined ? {} : { tenant_id: tenant } });
  const res = await SELF.fetch(`${API}${path}`, {
    method,
    headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.text();
  return { status: res.status, json: text ? (JSON.parse(text) as unknown) : null };
}

describe("tenants", () => {
  it("never pairs users of two tenants in the same bucket name; each pairs within its own", async () => {
    const [t1, t2] = [newTenant(), newTenant()];
    const room = uniqueRoom();
    const a = await joinAs(t1, room, "a");
    await a.next("queued");
    const b = await joinAs(t2, room, "b");
    const queuedB = await b.next("queued");
    expect(queuedB.position).toBe(1);
    await a.quiet();
    const c = await joinAs(t1, room, "c");
    await c.next("queued");
    expect(await c.next("match_found")).toMatchObject({ partnerId: "a" });
    await b.quiet();
    const [topic] = room.split(".").slice(1);
    const figures = (tenant: string) =>
      callAs(tenant, "ops", "GET", `/queues/easy/${topic}`).then((r) => queueFigures.parse(r.json));
    expect((await figures(t2)).waiting).toBe(1);
    expect((await figures(t1)).waiting).toBe(0);
  });

  it("treats the same user id in two tenants as two users (no 4409 across tenants)", async () => {
    const [t1, t2] = [newTenant(), newTenant()];
    const sam1 = await joinAs(t1, uniqueRoom(), "sam");
    await sam1.next("queued");
    const sam2 = await joinAs(t2, uniqueRoom("medium"), "sam");
    await sam2.next("queued");
    await sam1.quiet();
    const blocked = await callAs(t1, "sam", "PUT", "/me/blocks/pat");
    expect(blocked.status).toBe(204);
    expect((await callAs(t2, "sam", "GET", "/me/blocks")).json).toEqual({ blocked: [] });
  });

  it("keeps history, match records and popular topics per tenant", async () => {
    const [t1, t2] = [newTenant(), newTenant()];
    const topic = newTopic();
    const first = requestView.parse(
      (await callAs(t1, "ann", "POST", "/request", { difficulty: "easy", topic })).json,
    );
    const second = requestView.parse(
      (await callAs(t1, "bob", "POST", "/request", { difficulty: "easy", topic })).json,
    );
    const matchId = second.match!.id;
    expect((await callAs(t1, "ann", "POST", "/confirm", { match_id: matchId, confirmed: true })).status).toBe(
      202,
    );
    expect((await callAs(t1, "bob", "POST", "/confirm", { match_id: matchId, confirmed: true })).status).toBe(
      200,
    );
    // The outbox delivers a moment after the writes (DELIVERY_BATCH_WAIT_MS).
    await advanceAndRunAlarm(bucketActorName(t1, { difficulty: "easy", topic }), 5_000, vi);
    vi.useRealTimers();
    const mine = matchHistorySchema.parse((await callAs(t1, "ann", "GET", "/me/matches")).json);
    expect(mine.matches.map((m) => m.id)).toEqual([matchId]);
    expect(mine.matches[0]).toMatchObject({ requestId: first.id, partnerId: "bob", status: "confirmed" });
    // "ann" of another tenant is someone else.
    expect(matchHistorySchema.parse((await callAs(t2, "ann", "GET", "/me/matches")).json).matches).toEqual(
      [],
    );
    expect((await callAs(t2, "ann", "GET", `/matches/${matchId}`)).status).toBe(404);
    expect((await callAs(t1, "ann", "GET", `/matches/${matchId}`)).status).toBe(200);
    const popular = (tenant: string) =>
      callAs(tenant, "ops", "GET", "/topics/popular").then((r) => popularTopicsSchema.parse(r.json).topics);
    expect((await popular(t1)).map((p) => p.topic)).toEqual([topic]);
    expect(await popular(t2)).toEqual([]);
  });

  it("puts tokens without the claim in the default tenant", async () => {
    const room = uniqueRoom();
    const a = await joinAs(null, room, newUser("a"));
    await a.next("queued");
    const b = await joinAs("default", room, newUser("b"));
    await b.next("queued");
    await b.next("match_found");
  });

  it("takes an integer tenant id as the tenant of that decimal name", async () => {
    const room = uniqueRoom();
    const id = Math.floor(Math.random() * 1e9);
    const token = await tokenFor(newUser("a"), { claims: { tenant_id: id } });
    const res = await SELF.fetch(`https://matcher.test/parties/bucket/${room}?token=${token}`, {
      headers: { Upgrade: "websocket" },
    });
    res.webSocket!.accept();
    const a = new TestSocket(res.webSocket!);
    await a.next("queued");
    const b = await joinAs(String(id), room, newUser("b"));
    await b.next("queued");
    expect((await a.next("match_found")).partnerId).toMatch(/^b-/);
  });

  it("refuses a malformed tenant id with 401 and a clear message, before any object", async () => {
    for (const bad of ["two words", "x".repeat(65), "a~b", 4.2, true, ""]) {
      const res = await callAs(bad, "u", "GET", "/me/request");
      expect(res.status, JSON.stringify(bad)).toBe(401);
      expect(errorAnswer.parse(res.json).error.message).toMatch(/`tenant_id` claim must be 1-64 letters/);
    }
    const token = await tokenFor("u", { claims: { tenant_id: "a~b" } });
    const socket = await SELF.fetch(`https://matcher.test/parties/bucket/${uniqueRoom()}?token=${token}`, {
      headers: { Upgrade: "websocket" },
    });
    expect(socket.status).toBe(401);
  });
});

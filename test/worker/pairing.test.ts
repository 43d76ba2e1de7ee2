import { evictDurableObject, SELF } from "cloudflare:test";
import { afterEach, describe, expect, it, vi } from "vitest";
import { blockListAnswer, errorAnswer, requestView } from "../../src/protocol/http.ts";
import { api, newUser } from "./httpClient.ts";
import { shardFor } from "./registryClient.ts";
import { advanceAndRunAlarm, TestSocket, tokenFor, uniqueRoom, userIn } from "./socketClient.ts";

/**
 * docs/protocol.md, "Pairing", through real sockets and HTTP: roles, ratings from the
 * token with a window that widens by alarm, the rematch cooldown, blocks, and absent users.
 */

afterEach(() => {
  vi.useRealTimers();
});

type Wish = { role?: string; rating?: unknown; raw?: boolean };

async function upgrade(room: string, userId: string, wish: Wish = {}): Promise<Response> {
  const claims = wish.rating === undefined ? {} : { rating: wish.rating };
  const token = await tokenFor(userId, { claims });
  const role = wish.role === undefined ? "" : `&role=${encodeURIComponent(wish.role)}`;
  return SELF.fetch(`https://matcher.test/parties/bucket/${room}?token=${token}${role}`, {
    headers: { Upgrade: "websocket" },
  });
}

/** Join as `name` (scoped to the room) and read the first `queued` frame. */
async function joinAs(room: string, name: string, wish: Wish = {}): Promise<TestSocket> {
  const res = await upgrade(room, userIn(room, name), wish);
  if (!res.webSocket) throw new Error(`upgrade refused: ${res.status} ${await res.text()}`);
  res.webSocket.accept();
  const socket = new TestSocket(res.webSocket);
  await socket.next("queued");
  return socket;
}

describe("who is paired with whom", () => {
  it("honours roles: interviewers wait side by side, an interviewee takes the oldest; roles are reported", async () => {
    const room = uniqueRoom();
    const a = await joinAs(room, "a", { role: "interviewer" });
    const b = await joinAs(room, "b", { role: "interviewer" });
    await a.quiet();
    await b.quiet();
    const c = await joinAs(room, "c", { role: "interviewee" });
    const fa = await a.next("match_found");
    const fc = await c.next("match_found");
    expect(fa).toMatchObject({ partnerId: userIn(room, "c"), role: "interviewer" });
    expect(fc).toMatchObject({ partnerId: userIn(room, "a"), role: "interviewee" });
    a.send({ type: "confirm", matchId: fa.matchId });
    await c.next("partner_confirmed");
    c.send({ type: "confirm", matchId: fa.matchId });
    expect(await a.next("match_ready")).toMatchObject({ role: "interviewer" });
    expect(await c.next("match_ready")).toMatchObject({ role: "interviewee" });
    await b.quiet();
  });

  it("takes the role from POST /request and shows it in the request's view", async () => {
    const topic = `t-${crypto.randomUUID().slice(0, 12)}`;
    const u1 = newUser("u1");
    const u2 = newUser("u2");
    const r1 = await api(u1, "POST", "/request", { difficulty: "easy", topic, role: "interviewee" });
    expect(requestView.parse(r1.json)).toMatchObject({
      role: "interviewee",
      rating: null,
      status: "PENDING",
    });
    const r2 = await api(u2, "POST", "/request", { difficulty: "easy", topic });
    const view = requestView.parse(r2.json);
    expect(view).toMatchObject({ role: "either", status: "MATCHED", match: { role: "interviewer" } });
    const seen = requestView.parse((await api(u1, "GET", `/request/${requestView.parse(r1.json).id}`)).json);
    expect(seen.match).toMatchObject({ role: "interviewee", partnerId: u2 });
  });

  it("pairs ratings within the window at once, and a wider gap when the alarm widens the window", async () => {
    const room = uniqueRoom();
    const a = await joinAs(room, "a", { rating: 1000 });
    const b = await joinAs(room, "b", { rating: 1160 });
    await a.quiet();
    // 60 points over the window of 100: three steps of 25, each after 10 s of a's wait.
    await advanceAndRunAlarm(room, 20_000, vi);
    await a.quiet();
    vi.useRealTimers();
    await advanceAndRunAlarm(room, 31_000, vi);
    expect(await a.next("match_found")).toMatchObject({ partnerId: userIn(room, "b") });
    expect(await b.next("match_found")).toMatchObject({ partnerId: userIn(room, "a") });
    vi.useRealTimers();
    const c = await joinAs(room, "c", { rating: 1990 });
    const d = await joinAs(room, "d", { rating: 2050 });
    expect(await d.next("match_found")).toMatchObject({ partnerId: userIn(room, "c") });
    await c.next("match_found");
  });

  it("does not pair a declined pair again within the cooldown, and pairs each with a third user", async () => {
    const room = uniqueRoom();
    const a = await joinAs(room, "a");
    const b = await joinAs(room, "b");
    const { matchId } = await a.next("match_found");
    await b.next("match_found");
    b.send({ type: "decline", matchId });
    expect(await a.next("match_cancelled")).toMatchObject({ reason: "partner_declined" });
    await a.next("queued");
    await b.closed();
    const b2 = await joinAs(room, "b");
    await a.quiet();
    await b2.quiet();
    const c = await joinAs(room, "c");
    expect(await c.next("match_found")).toMatchObject({ partnerId: userIn(room, "a") });
    expect(await a.next("match_found")).toMatchObject({ partnerId: userIn(room, "c") });
    const d = await joinAs(room, "d");
    expect(await d.next("match_found")).toMatchObject({ partnerId: userIn(room, "b") });
    await b2.next("match_found");
  });

  it("remembers recent partners in the registry: the pair stays apart in another bucket too", async () => {
    const room = uniqueRoom();
    const other = uniqueRoom("medium");
    const a = await joinAs(room, "a");
    const b = await joinAs(room, "b");
    const { matchId } = await a.next("match_found");
    await b.next("match_found");
    a.send({ type: "confirm", matchId });
    b.send({ type: "confirm", matchId });
    expect(await a.closed()).toBe(1000);
    expect(await b.closed()).toBe(1000);
    // Both new requests come with claims from the shards, which learnt the partners from the
    // releases; the shards are evicted first, so this is storage, not memory.
    await evictDurableObject(shardFor(userIn(room, "a")));
    await evictDurableObject(shardFor(userIn(room, "b")));
    const ta = await upgradeAndQueue(other, userIn(room, "a"));
    const tb = await upgradeAndQueue(other, userIn(room, "b"));
    await ta.quiet();
    await tb.quiet();
    const c = await upgradeAndQueue(other, userIn(room, "c"));
    expect(await c.next("match_found")).toMatchObject({ partnerId: userIn(room, "a") });
  });

  it("applies a block to a request already waiting, keeps it, and lifting it pairs them", async () => {
    const room = uniqueRoom();
    const alice = userIn(room, "a");
    const bob = userIn(room, "b");
    const a = await joinAs(room, "a");
    expect((await api(alice, "PUT", `/me/blocks/${bob}`)).status).toBe(204);
    const b = await joinAs(room, "b");
    await a.quiet();
    await b.quiet();
    await evictDurableObject(shardFor(alice));
    const list = blockListAnswer.parse((await api(alice, "GET", "/me/blocks")).json);
    expect(list.blocked.map((x) => x.userId)).toEqual([bob]);
    expect((await api(alice, "DELETE", `/me/blocks/${bob}`)).status).toBe(204);
    expect(await a.next("match_found")).toMatchObject({ partnerId: bob });
    expect(await b.next("match_found")).toMatchObject({ partnerId: alice });
    expect(blockListAnswer.parse((await api(alice, "GET", "/me/blocks")).json).blocked).toEqual([]);
  });

  it("applies a block made before joining, from either side", async () => {
    const room = uniqueRoom();
    const bob = userIn(room, "b");
    expect((await api(bob, "PUT", `/me/blocks/${userIn(room, "a")}`)).status).toBe(204);
    const a = await joinAs(room, "a");
    const b = await joinAs(room, "b");
    await a.quiet();
    const c = await joinAs(room, "c");
    expect(await c.next("match_found")).toMatchObject({ partnerId: userIn(room, "a") });
    await b.quiet();
  });

  it("skips a user whose socket dropped until they come back", async () => {
    const room = uniqueRoom();
    const a = await joinAs(room, "a");
    a.close();
    await a.closed();
    const b = await joinAs(room, "b");
    await b.quiet(200);
    const back = await upgradeAndQueue(room, userIn(room, "a"));
    expect(await back.next("match_found")).toMatchObject({ partnerId: userIn(room, "b") });
    await b.next("match_found");
  });
});

describe("bad values change nothing", () => {
  it("refuses role=boss before the upgrade, with the usual error body", async () => {
    const room = uniqueRoom();
    const res = await upgrade(room, userIn(room, "a"), { role: "boss" });
    expect(res.status).toBe(400);
    expect(errorAnswer.parse(await res.json()).error.message).toMatch(/interviewer, interviewee or either/);
    expect((await api(userIn(room, "a"), "GET", "/me/request")).status).toBe(404);
    const http = await api(newUser("u"), "POST", "/request", {
      difficulty: "easy",
      topic: "x",
      role: "boss",
    });
    expect(http.status).toBe(400);
  });

  it("refuses a token whose rating claim is not a number with 401 and a clear message", async () => {
    const room = uniqueRoom();
    const res = await upgrade(room, userIn(room, "a"), { rating: "high" });
    expect(res.status).toBe(401);
    expect(errorAnswer.parse(await res.json()).error.message).toMatch(/`rating` claim must be a number/);
    expect((await api(userIn(room, "a"), "GET", "/me/request")).status).toBe(404);
  });

  it("refuses blocking yourself and a 10 KB user id, and the list stays empty", async () => {
    const me = newUser("me");
    const self = await api(me, "PUT", `/me/blocks/${me}`);
    expect(self.status).toBe(400);
    expect(errorAnswer.parse(self.json).error.message).toMatch(/yourself/);
    const huge = await api(me, "PUT", `/me/blocks/${"x".repeat(10_240)}`);
    expect(huge.status).toBe(400);
    expect(JSON.stringify(huge.json).length).toBeLessThan(1000);
    expect(blockListAnswer.parse((await api(me, "GET", "/me/blocks")).json).blocked).toEqual([]);
    expect((await api(null, "GET", "/me/blocks")).status).toBe(401);
  });
});

/** Join with a user id as is (not scoped), reading the first `queued`. */
async function upgradeAndQueue(room: string, userId: string): Promise<TestSocket> {
  const res = await upgrade(room, userId);
  if (!res.webSocket) throw new Error(`upgrade refused: ${res.status} ${await res.text()}`);
  res.webSocket.accept();
  const socket = new TestSocket(res.webSocket);
  await socket.next("queued");
  return socket;
}

import { evictDurableObject, runInDurableObject, SELF } from "cloudflare:test";
import { afterEach, describe, expect, it, vi } from "vitest";
import type { BucketActor } from "../../src/bucket/BucketActor.ts";
import { errorAnswer } from "../../src/protocol/http.ts";
import { api, newTopic, newUser } from "./httpClient.ts";
import { advanceAndRunAlarm, bucketStub, TestSocket, tokenFor } from "./socketClient.ts";

/**
 * CONTRACT "every outcome reaches its user": what a user missed while no socket of theirs was
 * open (a match made ready, a timeout, a cancel, a match that fell through) is what their next
 * connect gets, in order, with the same close, never a new request; `resume=` replays the last
 * words of an ended request; a match owed to a user keeps them from being queued anywhere.
 */

afterEach(() => {
  vi.useRealTimers();
});

async function upgrade(room: string, userId: string, query = ""): Promise<Response> {
  const token = await tokenFor(userId);
  return SELF.fetch(`https://matcher.test/parties/bucket/${room}?token=${token}${query}`, {
    headers: { Upgrade: "websocket" },
  });
}

async function connect(room: string, userId: string, query = ""): Promise<TestSocket> {
  const res = await upgrade(room, userId, query);
  if (!res.webSocket) throw new Error(`upgrade refused: ${res.status} ${await res.text()}`);
  res.webSocket.accept();
  return new TestSocket(res.webSocket);
}

/** Close the user's socket and wait until the bucket has seen it go (the grace then runs). */
async function drop(room: string, userId: string, socket: TestSocket): Promise<void> {
  socket.close();
  const deadline = performance.now() + 3000;
  for (;;) {
    const open = await runInDurableObject(bucketStub(room), (instance: BucketActor) => {
      let n = 0;
      for (const c of instance.getConnections(userId)) if (c.readyState === WebSocket.READY_STATE_OPEN) n++;
      return n;
    });
    if (open === 0) return;
    if (performance.now() > deadline) throw new Error(`the bucket still holds ${userId}'s socket`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

async function eventually(check: () => Promise<boolean>, what: string): Promise<void> {
  const deadline = performance.now() + 4000;
  while (!(await check())) {
    if (performance.now() > deadline) throw new Error(`never: ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

async function waiting(room: string, userId: string): Promise<number> {
  const [difficulty, topic] = room.split(".");
  const res = await api(userId, "GET", `/queues/${difficulty}/${topic}`);
  return (res.json as { waiting: number }).waiting;
}

/** Alice and Bob join `room` (Alice first, with `aliceQuery`) and are matched there or elsewhere. */
async function pair(room: string, aliceQuery = "", bobRoom = room) {
  const alice = newUser("alice");
  const bob = newUser("bob");
  const a = await connect(room, alice, aliceQuery);
  const requestId = (await a.next("queued")).requestId;
  if (bobRoom !== room)
    await eventually(async () => (await waiting(bobRoom, bob)) === 1, "alice waits there too");
  const b = await connect(bobRoom, bob);
  await b.next("queued");
  const matchId = (await a.next("match_found")).matchId;
  await b.next("match_found");
  return { alice, bob, a, b, requestId, matchId };
}

const rooms = () => ({
  home: `easy.${newTopic()}`,
  other: `medium.${newTopic()}`,
  third: `hard.${newTopic()}`,
});

describe("an outcome owed after a drop", () => {
  for (const flexible of [false, true]) {
    const kind = flexible ? "a match made in a guest bucket" : "a match made at home";

    it(`match_ready after a drop between the two confirms, across eviction (${kind})`, async () => {
      const r = rooms();
      const p = await pair(r.home, flexible ? `&also=${r.other}` : "", flexible ? r.other : r.home);
      p.a.send({ type: "confirm", matchId: p.matchId });
      await p.b.next("partner_confirmed");
      await drop(r.home, p.alice, p.a);
      p.b.send({ type: "confirm", matchId: p.matchId });
      const ready = await p.b.next("match_ready");
      expect(await p.b.closed()).toBe(1000);
      // The outcome goes home to Alice's bucket, which owes it to her; both buckets forget all
      // but what they stored.
      await eventually(
        async () => (await api(p.alice, "GET", "/me/request")).status === 404,
        "alice's request ended",
      );
      await evictDurableObject(bucketStub(r.home));
      if (flexible) await evictDurableObject(bucketStub(r.other));
      // Elsewhere and over HTTP she is not queued again while it is owed.
      expect(
        await api(p.alice, "POST", "/request", { difficulty: "hard", topic: r.third.slice(5) }),
      ).toMatchObject({
        status: 409,
        json: { error: { code: "already_queued" } },
      });
      const back = await connect(r.home, p.alice);
      expect(await back.next("match_ready")).toMatchObject({
        matchId: p.matchId,
        partnerId: p.bob,
        role: ready.role === "interviewer" ? "interviewee" : "interviewer",
        ...(flexible ? { difficulty: "medium", topic: r.other.slice(7) } : {}),
      });
      expect(await back.closed()).toBe(1000);
      // Told once: her next connect is a new request.
      const next = await connect(r.home, p.alice);
      expect((await next.next("queued")).requestId).not.toBe(p.requestId);
    });

    it(`match_cancelled then queued when the partner declines while away (${kind})`, async () => {
      const r = rooms();
      const p = await pair(r.home, flexible ? `&also=${r.other}` : "", flexible ? r.other : r.home);
      await drop(r.home, p.alice, p.a);
      p.b.send({ type: "decline", matchId: p.matchId });
      expect(await p.b.closed()).toBe(1000);
      await evictDurableObject(bucketStub(r.home));
      const back = await connect(r.home, p.alice);
      expect(await back.next("match_cancelled")).toMatchObject({
        matchId: p.matchId,
        reason: "partner_declined",
      });
      expect(await back.next("queued")).toMatchObject({ requestId: p.requestId, position: 1 });
      await back.quiet();
    });
  }

  it("match_ready after a drop while the match was being confirmed over HTTP and the partner's socket", async () => {
    const r = rooms();
    const p = await pair(r.home);
    await drop(r.home, p.alice, p.a);
    expect((await api(p.alice, "POST", "/confirm", { match_id: p.matchId, confirmed: true })).status).toBe(
      202,
    );
    await p.b.next("partner_confirmed");
    p.b.send({ type: "confirm", matchId: p.matchId });
    await p.b.next("match_ready");
    const back = await connect(r.home, p.alice);
    expect(await back.next("match_ready")).toMatchObject({ matchId: p.matchId, partnerId: p.bob });
    expect(await back.closed()).toBe(1000);
  });

  it("timeout, with its 4008, when the queue time runs out during the grace, across eviction", async () => {
    const room = `easy.${newTopic()}`;
    const alice = newUser("alice");
    const a = await connect(room, alice);
    const { requestId, expiresAt } = await a.next("queued");
    vi.useFakeTimers({ toFake: ["Date"] });
    vi.setSystemTime(Date.parse(expiresAt) - 5_000);
    await drop(room, alice, a);
    await advanceAndRunAlarm(room, 6_000, vi);
    await evictDurableObject(bucketStub(room));
    const back = await connect(room, alice);
    expect(await back.next("timeout")).toEqual({ type: "timeout", requestId });
    expect(await back.closed()).toBe(4008);
    // Delivered once, and a timeout does not hold the user: a new join is a new request.
    const again = await connect(room, alice);
    expect((await again.next("queued")).requestId).not.toBe(requestId);
  });

  it("cancelled, with its 1000, after DELETE /request while away", async () => {
    const room = `easy.${newTopic()}`;
    const alice = newUser("alice");
    const a = await connect(room, alice);
    const { requestId } = await a.next("queued");
    await drop(room, alice, a);
    expect((await api(alice, "DELETE", `/request/${requestId}`)).status).toBe(200);
    await evictDurableObject(bucketStub(room));
    const back = await connect(room, alice);
    expect(await back.next("cancelled")).toEqual({ type: "cancelled", requestId });
    expect(await back.closed()).toBe(1000);
  });

  it("nothing is owed once the grace after the outcome has passed: the next connect is a new request", async () => {
    const r = rooms();
    const p = await pair(r.home);
    p.a.send({ type: "confirm", matchId: p.matchId });
    await p.b.next("partner_confirmed");
    await drop(r.home, p.alice, p.a);
    p.b.send({ type: "confirm", matchId: p.matchId });
    await p.b.next("match_ready");
    await advanceAndRunAlarm(r.home, 11_000, vi);
    vi.useRealTimers();
    // Freed everywhere: another bucket takes her.
    const elsewhere = await connect(r.third, p.alice);
    expect((await elsewhere.next("queued")).requestId).not.toBe(p.requestId);
  });

  it("a connect to another bucket while a match is owed gets that match and close 1000", async () => {
    const r = rooms();
    const p = await pair(r.home);
    p.a.send({ type: "confirm", matchId: p.matchId });
    await p.b.next("partner_confirmed");
    await drop(r.home, p.alice, p.a);
    p.b.send({ type: "confirm", matchId: p.matchId });
    await p.b.next("match_ready");
    const elsewhere = await connect(r.third, p.alice);
    expect(await elsewhere.next("match_ready")).toMatchObject({ matchId: p.matchId, partnerId: p.bob });
    expect(await elsewhere.closed()).toBe(1000);
    // Delivered: she is free, and home has nothing more for her.
    const home = await connect(r.home, p.alice);
    expect((await home.next("queued")).requestId).not.toBe(p.requestId);
  });
});

describe("resume=<requestId>", () => {
  it("of a live request resumes it", async () => {
    const room = `easy.${newTopic()}`;
    const alice = newUser("alice");
    const a = await connect(room, alice);
    const { requestId } = await a.next("queued");
    await drop(room, alice, a);
    const back = await connect(room, alice, `&resume=${requestId}`);
    expect(await back.next("queued")).toMatchObject({ requestId, position: 1 });
  });

  it("of an ended request gets its last frame and close, every time, and makes no new request", async () => {
    const r = rooms();
    const p = await pair(r.home);
    p.a.send({ type: "confirm", matchId: p.matchId });
    await p.b.next("partner_confirmed");
    p.b.send({ type: "confirm", matchId: p.matchId });
    const ready = await p.a.next("match_ready");
    expect(await p.a.closed()).toBe(1000);
    for (let i = 0; i < 2; i++) {
      const back = await connect(r.home, p.alice, `&resume=${p.requestId}`);
      expect(await back.next("match_ready")).toEqual(ready);
      expect(await back.closed()).toBe(1000);
    }
    expect((await api(p.alice, "GET", "/me/request")).status).toBe(404);
  });

  it("of a request that timed out gets timeout and 4008", async () => {
    const room = `easy.${newTopic()}`;
    const alice = newUser("alice");
    const a = await connect(room, alice);
    const { requestId } = await a.next("queued");
    await advanceAndRunAlarm(room, 61_000, vi);
    await a.next("timeout");
    const back = await connect(room, alice, `&resume=${requestId}`);
    expect(await back.next("timeout")).toEqual({ type: "timeout", requestId });
    expect(await back.closed()).toBe(4008);
  });

  it("of a request paired in a guest bucket replays that bucket's match_ready", async () => {
    const r = rooms();
    const p = await pair(r.home, `&also=${r.other}`, r.other);
    p.a.send({ type: "confirm", matchId: p.matchId });
    await p.b.next("partner_confirmed");
    p.b.send({ type: "confirm", matchId: p.matchId });
    const ready = await p.a.next("match_ready");
    await p.a.closed();
    await evictDurableObject(bucketStub(r.home));
    const back = await connect(r.home, p.alice, `&resume=${p.requestId}`);
    expect(await back.next("match_ready")).toEqual(ready);
    expect(await back.closed()).toBe(1000);
  });

  it("of an unknown request, or someone else's, gets request_not_found and 4404", async () => {
    const r = rooms();
    const p = await pair(r.home);
    for (const id of [`req_${crypto.randomUUID()}`, p.requestId]) {
      const socket = await connect(r.home, newUser("carol"), `&resume=${id}`);
      expect(await socket.next("error")).toMatchObject({ code: "request_not_found" });
      expect(await socket.closed()).toBe(4404);
    }
  });

  it("that is malformed is 400 before the upgrade", async () => {
    const res = await upgrade(`easy.${newTopic()}`, newUser("alice"), "&resume=nope");
    expect(res.status).toBe(400);
    expect(errorAnswer.parse(await res.json()).error.code).toBe("invalid_parameter");
  });
});

import { evictDurableObject, runInDurableObject, SELF } from "cloudflare:test";
import { afterEach, describe, expect, it, vi } from "vitest";
import { MAX_CLIENT_FRAME_BYTES } from "../../src/protocol/frames.ts";
import {
  advanceAndRunAlarm,
  bucketStub,
  join,
  matchedPair,
  openSocket,
  tokenFor,
  uniqueRoom,
  userIn,
} from "./socketClient.ts";

afterEach(() => {
  vi.useRealTimers();
});

describe("joining and pairing", () => {
  it("queues the first user with their position, bucket and deadline", async () => {
    const room = uniqueRoom("hard");
    const before = Date.now();
    const { queued } = await join(room, "alice");
    expect(queued).toMatchObject({ position: 1, waiting: 1, difficulty: "hard", topic: room.split(".")[1] });
    expect(queued.requestId).toMatch(/^req_/);
    const expires = Date.parse(queued.expiresAt);
    expect(expires).toBeGreaterThanOrEqual(before + 60_000);
    expect(expires).toBeLessThan(before + 62_000);
  });

  it("pairs a new request at once with the oldest waiting one, FIFO across users", async () => {
    const room = uniqueRoom();
    const { a, b } = await matchedPair(room, "u1", "u2");
    const c = await join(room, "u3");
    const d = await join(room, "u4");
    const fc = await c.socket.next("match_found");
    const fd = await d.socket.next("match_found");
    expect(fc.partnerId).toBe(userIn(room, "u4"));
    expect(fd.partnerId).toBe(userIn(room, "u3"));
    const e = await join(room, "u5");
    expect(e.queued.position).toBe(1);
    await e.socket.quiet();
    await a.quiet(10);
    await b.quiet(10);
  });

  it("keeps a requeued user's original place: they are paired before anyone who came later", async () => {
    const room = uniqueRoom();
    const { a, b, matchId } = await matchedPair(room, "first", "second");
    const c = await join(room, "third");
    a.send({ type: "decline", matchId });
    expect(await a.next("match_cancelled")).toMatchObject({ matchId, reason: "declined" });
    expect(await a.closed()).toBe(1000);
    expect(await b.next("match_cancelled")).toMatchObject({ matchId, reason: "partner_declined" });
    expect((await b.next("queued")).position).toBe(1);
    expect((await b.next("match_found")).partnerId).toBe(userIn(room, "third"));
    expect((await c.socket.next("match_found")).partnerId).toBe(userIn(room, "second"));
  });

  it("treats Easy.Arrays and easy.arrays as one bucket", async () => {
    const topic = `T-${crypto.randomUUID().slice(0, 8)}`;
    const a = await join(`Easy.${topic}`, "alice");
    const b = await join(`easy.${topic.toLowerCase()}`, "bob");
    expect((await a.socket.next("match_found")).topic).toBe(topic.toLowerCase());
    expect((await b.socket.next("match_found")).partnerId).toBe(userIn(`easy.${topic}`, "alice"));
  });

  it("pairs 40 simultaneous joins into 20 matches, everyone exactly once", async () => {
    const room = uniqueRoom();
    const users = Array.from({ length: 40 }, (_, i) => `user-${i}`);
    const sockets = await Promise.all(users.map((u) => openSocket(room, u)));
    const found = await Promise.all(
      sockets.map(async (s) => {
        await s.next("queued");
        return s.next("match_found");
      }),
    );
    const partnerOf = new Map(users.map((u, i) => [userIn(room, u), found[i]!.partnerId]));
    for (const [user, partner] of partnerOf) {
      expect(partner).not.toBe(user);
      expect(partnerOf.get(partner)).toBe(user);
    }
    expect(new Set(found.map((f) => f.matchId)).size).toBe(20);
    await Promise.all(sockets.map((s) => s.quiet(50)));
  });
});

describe("confirmation", () => {
  it("tells the partner who confirmed first, then both get match_ready and a normal close", async () => {
    const room = uniqueRoom();
    const { a, b, matchId } = await matchedPair(room);
    a.send({ type: "confirm", matchId });
    expect(await b.next("partner_confirmed")).toEqual({ type: "partner_confirmed", matchId });
    b.send({ type: "confirm", matchId });
    for (const [s, partner] of [
      [a, userIn(room, "bob")],
      [b, userIn(room, "alice")],
    ] as const) {
      expect(await s.next("match_ready")).toMatchObject({
        matchId,
        partnerId: partner,
        questionId: null,
        collaborationSessionId: null,
      });
      expect(await s.closed()).toBe(1000);
    }
  });

  it("on a confirm timeout, the side that confirmed goes back to the queue", async () => {
    const room = uniqueRoom();
    const { a, b, matchId } = await matchedPair(room);
    a.send({ type: "confirm", matchId });
    await b.next("partner_confirmed");
    expect(await advanceAndRunAlarm(room, 21_000, vi)).toBe(true);
    expect(await a.next("match_cancelled")).toMatchObject({ matchId, reason: "partner_timeout" });
    expect((await a.next("queued")).position).toBe(1);
    expect(await b.next("match_cancelled")).toMatchObject({ matchId, reason: "confirm_timeout" });
    expect(await b.closed()).toBe(1000);
  });

  it("when the partner leaves during confirmation, the other is requeued with partner_left", async () => {
    const room = uniqueRoom();
    const { a, b, matchId } = await matchedPair(room);
    b.send({ type: "leave" });
    expect((await b.next("cancelled")).requestId).toMatch(/^req_/);
    expect(await b.closed()).toBe(1000);
    expect(await a.next("match_cancelled")).toMatchObject({ matchId, reason: "partner_left" });
    await a.next("queued");
  });
});

describe("timeouts and alarms", () => {
  it("times a lone request out by alarm: timeout frame then close 4008", async () => {
    const room = uniqueRoom();
    const { socket, queued } = await join(room, "alice");
    expect(await advanceAndRunAlarm(room, 59_000, vi)).toBe(true);
    await socket.quiet(50);
    expect(await advanceAndRunAlarm(room, 61_000, vi)).toBe(true);
    expect(await socket.next("timeout")).toEqual({ type: "timeout", requestId: queued.requestId });
    expect(await socket.closed()).toBe(4008);
  });

  it("an alarm that fires twice, or late, changes nothing more", async () => {
    const room = uniqueRoom();
    const { socket } = await join(room, "alice");
    const stub = bucketStub(room);
    vi.useFakeTimers({ toFake: ["Date"] });
    vi.setSystemTime(Date.now() + 120_000);
    await runInDurableObject(stub, async (actor) => {
      await actor.alarm();
      await actor.alarm();
    });
    await socket.next("timeout");
    expect(await socket.closed()).toBe(4008);
    await socket.quiet(50);
    // The bucket is empty and usable: the next user waits alone.
    vi.useRealTimers();
    const next = await join(room, "bob");
    expect(next.queued.position).toBe(1);
  });
});

describe("surviving eviction", () => {
  it("keeps the queue and its order across eviction, with hibernated sockets still served", async () => {
    const room = uniqueRoom();
    const a = await join(room, "alice");
    await evictDurableObject(bucketStub(room));
    const b = await join(room, "bob");
    expect((await a.socket.next("match_found")).partnerId).toBe(userIn(room, "bob"));
    expect((await b.socket.next("match_found")).partnerId).toBe(userIn(room, "alice"));
    const c = await join(room, "carol");
    await evictDurableObject(bucketStub(room));
    c.socket.send({ type: "status" });
    expect((await c.socket.next("queued")).requestId).toBe(c.queued.requestId);
    const d = await join(room, "dave");
    expect((await d.socket.next("match_found")).partnerId).toBe(userIn(room, "carol"));
  });

  it("continues a confirmation across eviction", async () => {
    const room = uniqueRoom();
    const { a, b, matchId } = await matchedPair(room);
    a.send({ type: "confirm", matchId });
    await b.next("partner_confirmed");
    await evictDurableObject(bucketStub(room));
    b.send({ type: "confirm", matchId });
    expect((await a.next("match_ready")).matchId).toBe(matchId);
    expect((await b.next("match_ready")).matchId).toBe(matchId);
  });

  it("still fires deadlines after eviction", async () => {
    const room = uniqueRoom();
    const { a, b, matchId } = await matchedPair(room);
    await evictDurableObject(bucketStub(room));
    expect(await advanceAndRunAlarm(room, 21_000, vi)).toBe(true);
    expect((await a.next("match_cancelled")).reason).toBe("confirm_timeout");
    expect((await b.next("match_cancelled")).matchId).toBe(matchId);
  });
});

describe("sockets of one user", () => {
  it("the newest socket takes over the request; the older is closed with 4009; no self-match", async () => {
    const room = uniqueRoom();
    const first = await join(room, "alice");
    const second = await join(room, "alice");
    expect(second.queued.requestId).toBe(first.queued.requestId);
    expect(await first.socket.closed()).toBe(4009);
    await second.socket.quiet(50);
    const b = await join(room, "bob");
    expect((await second.socket.next("match_found")).partnerId).toBe(userIn(room, "bob"));
    expect((await b.socket.next("match_found")).partnerId).toBe(userIn(room, "alice"));
  });

  it("two sockets of one user arriving together: one request, the older socket replaced, never 4409", async () => {
    const room = uniqueRoom();
    const [x, y] = await Promise.all([openSocket(room, "alice"), openSocket(room, "alice")]);
    const codes = await Promise.all([x, y].map((s) => s.closed(1500).catch(() => null)));
    expect(codes.filter((c) => c !== null)).toEqual([4009]);
    const survivor = codes[0] === null ? x : y;
    const replaced = codes[0] === null ? y : x;
    expect(replaced.frames.some((f) => f.type === "error")).toBe(false);
    survivor.send({ type: "status" });
    const queued = survivor.frames.find((f) => f.type === "queued") ?? (await survivor.next("queued"));
    expect(queued.type).toBe("queued");
    const b = await join(room, "bob");
    await b.socket.next("match_found");
  });

  it("a reconnect inside the grace resumes the same request in the same place", async () => {
    const room = uniqueRoom();
    const first = await join(room, "alice");
    first.socket.close();
    await first.socket.closed();
    expect(await advanceAndRunAlarm(room, 9_000, vi)).toBe(true);
    const again = await join(room, "alice");
    expect(again.queued.requestId).toBe(first.queued.requestId);
    expect(again.queued.position).toBe(1);
    // The grace deadline no longer applies once resumed.
    expect(await advanceAndRunAlarm(room, 12_000, vi)).toBe(true);
    await again.socket.quiet(50);
  });

  it("a reconnect after the grace finds the request cancelled and starts a new one", async () => {
    const room = uniqueRoom();
    const first = await join(room, "alice");
    first.socket.close();
    await first.socket.closed();
    expect(await advanceAndRunAlarm(room, 11_000, vi)).toBe(true);
    vi.useRealTimers();
    const again = await join(room, "alice");
    expect(again.queued.requestId).not.toBe(first.queued.requestId);
  });

  it("a partner who drops during confirmation and does not return frees the other after the grace", async () => {
    const room = uniqueRoom();
    const { a, b, matchId } = await matchedPair(room);
    b.close();
    await b.closed();
    expect(await advanceAndRunAlarm(room, 11_000, vi)).toBe(true);
    expect(await a.next("match_cancelled")).toEqual({
      type: "match_cancelled",
      matchId,
      reason: "partner_left",
    });
    await a.next("queued");
  });
});

describe("bad frames are answered with error and change nothing", () => {
  const cases: Array<[string, (matchId: string, foreign: string) => unknown, string]> = [
    ["not JSON", () => "this is not json", "invalid_frame"],
    ["a JSON non-object", () => "42", "invalid_frame"],
    ["an unknown type", () => ({ type: "teleport" }), "invalid_frame"],
    ["confirm without matchId", () => ({ type: "confirm" }), "invalid_frame"],
    ["a malformed matchId", () => ({ type: "confirm", matchId: "nope" }), "invalid_frame"],
    ["an unknown matchId", () => ({ type: "confirm", matchId: "mat_00000000-dead-beef" }), "unknown_match"],
    ["someone else's matchId", (_m, foreign) => ({ type: "decline", matchId: foreign }), "unknown_match"],
    ["extra fields", (m) => ({ type: "confirm", matchId: m, admin: true }), "invalid_frame"],
    ["a 100 KB frame", () => JSON.stringify({ type: "status", pad: "x".repeat(100_000) }), "frame_too_large"],
    ["a frame just over the limit", () => "x".repeat(MAX_CLIENT_FRAME_BYTES + 1), "frame_too_large"],
  ];

  it.each(cases)("%s", async (_name, build, code) => {
    const room = uniqueRoom();
    const other = await matchedPair(room, "carol", "dave");
    const { a, b, matchId } = await matchedPair(room);
    a.send(build(matchId, other.matchId) as string | object);
    expect((await a.next("error")).code).toBe(code);
    // State unchanged: the match is still on for everyone, and answers `status` as before.
    a.send({ type: "status" });
    expect((await a.next("match_found")).matchId).toBe(matchId);
    await b.quiet(30);
    await other.a.quiet(10);
    await other.b.quiet(10);
  });

  it("answers ping with pong and status with the current position", async () => {
    const room = uniqueRoom();
    const { socket, queued } = await join(room, "alice");
    socket.send({ type: "ping" });
    await socket.next("pong");
    socket.send({ type: "status" });
    expect(await socket.next("queued")).toMatchObject({ requestId: queued.requestId, position: 1 });
  });

  it("leave with no live request is refused with an error", async () => {
    const room = uniqueRoom();
    const { socket } = await join(room, "alice");
    socket.send({ type: "leave" });
    await socket.next("cancelled");
    await socket.closed();
    // A fresh socket creates a new request; leaving twice is covered by the core tests.
    const again = await join(room, "alice");
    expect(again.queued.position).toBe(1);
  });
});

describe("the router in front of the actor", () => {
  it("refuses a bad token with 401 before any upgrade", async () => {
    const res = await SELF.fetch(`https://matcher.test/parties/bucket/${uniqueRoom()}?token=garbage`, {
      headers: { Upgrade: "websocket" },
    });
    expect(res.status).toBe(401);
    expect(res.headers.get("WWW-Authenticate")).toContain("Bearer");
    expect(res.webSocket).toBeNull();
  });

  it("refuses a room that is not difficulty.topic", async () => {
    const token = await tokenFor("alice");
    const res = await SELF.fetch(`https://matcher.test/parties/bucket/extreme.arrays?token=${token}`, {
      headers: { Upgrade: "websocket" },
    });
    expect(res.status).toBe(400);
    expect(await res.json()).toMatchObject({ error: { code: "invalid_room" } });
  });
});

import { env, runInDurableObject, SELF } from "cloudflare:test";
import { afterEach, describe, expect, it, vi } from "vitest";
import type { BucketActor } from "../../src/bucket/BucketActor.ts";
import { app } from "../../src/http/app.ts";
import { SseReader } from "../support/sseReader.ts";
import { API, api, newTopic, newUser } from "./httpClient.ts";
import { bucketStub, openSocket, tokenFor, userIn } from "./socketClient.ts";

/**
 * CONTRACT "Server-Sent Events": `GET /events` joins like the bucket socket and streams its
 * frames; refusals are HTTP errors before any stream. The Node test (test/node/events.e2e.test.ts)
 * runs the same flow with a real streaming client against `wrangler dev`, and waits for a
 * heartbeat in real time (a faked timer here would fire outside the stream's request).
 */

afterEach(() => {
  vi.useRealTimers();
});

type StreamOptions = { token?: string | null; headers?: Record<string, string>; query?: string };

async function openStream(userId: string, topic: string, options: StreamOptions = {}): Promise<Response> {
  const headers: Record<string, string> = { accept: "text/event-stream", ...options.headers };
  const token = options.token === undefined ? await tokenFor(userId) : options.token;
  if (token !== null) headers.authorization = `Bearer ${token}`;
  return SELF.fetch(`${API}/events?difficulty=easy&topic=${topic}${options.query ?? ""}`, { headers });
}

async function stream(userId: string, topic: string, options: StreamOptions = {}): Promise<SseReader> {
  const res = await openStream(userId, topic, options);
  if (res.status !== 200 || !res.body) throw new Error(`stream refused: ${res.status} ${await res.text()}`);
  expect(res.headers.get("content-type")).toMatch(/^text\/event-stream/);
  return new SseReader(res.body);
}

async function refusal(res: Response): Promise<{ status: number; code: string; headers: Headers }> {
  const body = (await res.json()) as { error: { code: string } };
  return { status: res.status, code: body.error.code, headers: res.headers };
}

describe("refusals come as HTTP errors before the stream starts", () => {
  it("401 without a token or with a bad one", async () => {
    const topic = newTopic();
    const none = await refusal(await openStream(newUser("u"), topic, { token: null }));
    expect(none).toMatchObject({ status: 401, code: "unauthorized" });
    expect(none.headers.get("www-authenticate")).toMatch(/^Bearer/);
    const bad = await refusal(await openStream(newUser("u"), topic, { token: "not.a.jwt" }));
    expect(bad).toMatchObject({ status: 401, code: "unauthorized" });
  });

  it("takes the token from `?token=` too (EventSource cannot set headers)", async () => {
    const topic = newTopic();
    const token = await tokenFor(newUser("u"));
    const res = await SELF.fetch(`${API}/events?difficulty=easy&topic=${topic}&token=${token}`);
    expect(res.status).toBe(200);
    const reader = new SseReader(res.body!);
    await reader.next("queued");
    await reader.close();
  });

  it("400 for a bad difficulty, topic or role", async () => {
    const u = newUser("u");
    const res = await SELF.fetch(`${API}/events?difficulty=trivial&topic=arrays`, {
      headers: { authorization: `Bearer ${await tokenFor(u)}` },
    });
    expect(await refusal(res)).toMatchObject({ status: 400, code: "invalid_parameter" });
    const noTopic = await SELF.fetch(`${API}/events?difficulty=easy`, {
      headers: { authorization: `Bearer ${await tokenFor(u)}` },
    });
    expect(await refusal(noTopic)).toMatchObject({ status: 400, code: "invalid_parameter" });
    const badTopic = await openStream(u, "a.b");
    expect(await refusal(badTopic)).toMatchObject({ status: 400, code: "invalid_parameter" });
    const badRole = await openStream(u, newTopic(), { query: "&role=referee" });
    expect(await refusal(badRole)).toMatchObject({ status: 400, code: "invalid_parameter" });
  });

  it("400 unknown_topic for a topic outside TOPICS, whose topics stream", async () => {
    const limited = { ...env, TOPICS: "Arrays, Dynamic Programming" };
    const open = async (topic: string) =>
      app.request(
        `/api/v1/matching/events?difficulty=easy&topic=${encodeURIComponent(topic)}`,
        { headers: { authorization: `Bearer ${await tokenFor(newUser("u"))}` } },
        limited,
      );
    expect(await refusal(await open("graphs"))).toMatchObject({ status: 400, code: "unknown_topic" });
    const allowed = await open("Dynamic Programming");
    expect(allowed.status).toBe(200);
    const events = new SseReader(allowed.body!);
    expect((await events.next("queued")).frame.topic).toBe("dynamic-programming");
    await events.close();
  });

  it("409 already_queued when the user waits in another bucket, which keeps its request", async () => {
    const u = newUser("u");
    const elsewhere = await api(u, "POST", "/request", { difficulty: "hard", topic: newTopic() });
    expect(elsewhere.status).toBe(201);
    const res = await openStream(u, newTopic());
    expect(await refusal(res)).toMatchObject({ status: 409, code: "already_queued" });
    expect((await api(u, "GET", "/me/request")).json).toMatchObject({ status: "PENDING" });
  });

  it("429 with Retry-After past the join rate", async () => {
    const u = newUser("u");
    const topic = newTopic();
    for (let i = 0; i < 20; i++) {
      expect((await api(u, "POST", "/request", { difficulty: "easy", topic })).status).toBeLessThan(300);
    }
    const limited = await refusal(await openStream(u, topic));
    expect(limited).toMatchObject({ status: 429, code: "rate_limited" });
    expect(Number(limited.headers.get("retry-after"))).toBeGreaterThan(0);
  });

  it("503 during maintenance", async () => {
    const tenant = `sse-${crypto.randomUUID().slice(0, 8)}`;
    const admin = await tokenFor(newUser("admin"), { claims: { tenant_id: tenant, role: "admin" } });
    const switchTo = (on: boolean) =>
      SELF.fetch(`${API}/internal/maintenance`, {
        method: "PUT",
        headers: { authorization: `Bearer ${admin}`, "content-type": "application/json" },
        body: JSON.stringify({ on }),
      });
    expect((await switchTo(true)).status).toBe(200);
    const token = await tokenFor(newUser("u"), { claims: { tenant_id: tenant } });
    const refused = await refusal(await openStream("", newTopic(), { token }));
    expect(refused).toMatchObject({ status: 503, code: "maintenance" });
    expect(Number(refused.headers.get("retry-after"))).toBeGreaterThan(0);
    expect((await switchTo(false)).status).toBe(200);
  });
});

describe("the stream", () => {
  it("carries the socket's frames with growing ids, and ends after match_ready", async () => {
    const topic = newTopic();
    const room = `easy.${topic}`;
    const alice = newUser("alice");
    const events = await stream(alice, topic);
    const queued = await events.next("queued");
    expect(queued.frame).toMatchObject({ position: 1, difficulty: "easy", topic });
    expect(queued.id).toBe("1");

    const bob = await openSocket(room, "bob");
    await bob.next("queued");
    const found = await events.next("match_found");
    expect(found.frame.partnerId).toBe(userIn(room, "bob"));
    expect(found.id).toBe("2");
    await bob.next("match_found");

    const confirmed = await api(alice, "POST", "/confirm", {
      match_id: found.frame.matchId,
      confirmed: true,
    });
    expect(confirmed.status).toBe(202);
    await bob.next("partner_confirmed");
    bob.send({ type: "confirm", matchId: found.frame.matchId });
    const ready = await events.next("match_ready");
    expect(ready.frame).toMatchObject({ matchId: found.frame.matchId, partnerId: userIn(room, "bob") });
    await events.end();
    expect(events.events).toEqual([]);
    // What an EventSource would send on its automatic reconnect; that reconnect is told to stop
    // instead of joining the queue again.
    expect(events.lastEventId).toBe("3-end");
    const again = await openStream(alice, topic, { headers: { "last-event-id": events.lastEventId } });
    expect(again.status).toBe(204);
    expect((await api(alice, "GET", "/me/request")).status).toBe(404);
  });

  it("closing the stream is a disconnect: the request waits out its grace unpaired, and a reconnect resumes it", async () => {
    const topic = newTopic();
    const room = `easy.${topic}`;
    const alice = newUser("alice");
    const first = await stream(alice, topic);
    const queued = await first.next("queued");
    await first.close();
    // The bucket learns of it from the Worker's socket closing, not at once.
    await vi.waitFor(
      () =>
        runInDurableObject(bucketStub(room), (bucket: BucketActor) => {
          if ([...bucket.getConnections(alice)].length > 0) throw new Error("alice still connected");
        }),
      { timeout: 3000, interval: 20 },
    );

    // Inside the grace alice keeps her place but is not paired (CONTRACT "Who is paired with whom").
    const bob = await openSocket(room, "bob");
    expect((await bob.next("queued")).position).toBe(2);
    await bob.quiet(200);

    const second = await stream(alice, topic, { headers: { "last-event-id": queued.id } });
    const resumed = await second.next("queued");
    expect(resumed.frame.requestId).toBe(queued.frame.requestId);
    // Ids go on from the one the client last saw.
    expect(resumed.id).toBe("2");
    await second.next("match_found");
    await bob.next("match_found");
    await second.close();
  });

  it("a match made ready while the stream was closed is what the next stream gets, then its end; resume= replays it", async () => {
    const topic = newTopic();
    const room = `easy.${topic}`;
    const alice = newUser("alice");
    const first = await stream(alice, topic);
    const { requestId } = (await first.next("queued")).frame;
    const bob = await openSocket(room, "bob");
    await bob.next("queued");
    const { matchId } = (await first.next("match_found")).frame;
    await bob.next("match_found");
    expect((await api(alice, "POST", "/confirm", { match_id: matchId, confirmed: true })).status).toBe(202);
    await first.close();
    await vi.waitFor(
      () =>
        runInDurableObject(bucketStub(room), (bucket: BucketActor) => {
          if ([...bucket.getConnections(alice)].length > 0) throw new Error("alice still connected");
        }),
      { timeout: 3000, interval: 20 },
    );
    await bob.next("partner_confirmed");
    bob.send({ type: "confirm", matchId });
    await bob.next("match_ready");

    const back = await stream(alice, topic);
    expect((await back.next("match_ready")).frame).toMatchObject({ matchId, partnerId: userIn(room, "bob") });
    await back.end();
    const replay = await stream(alice, topic, { query: `&resume=${requestId}` });
    expect((await replay.next("match_ready")).frame).toMatchObject({ matchId });
    await replay.end();
    const unknown = await refusal(
      await openStream(alice, topic, { query: `&resume=req_${crypto.randomUUID()}` }),
    );
    expect(unknown).toMatchObject({ status: 404, code: "request_not_found" });
  });

  it("a socket of the same user takes over from a stream, and a stream from a socket", async () => {
    const topic = newTopic();
    const room = `easy.${topic}`;
    const alice = userIn(room, "alice");
    const events = await stream(alice, topic);
    const queued = await events.next("queued");
    const socket = await openSocket(room, "alice");
    expect((await socket.next("queued")).requestId).toBe(queued.frame.requestId);
    await events.end();
    expect(events.lastEventId).toBe("1-end");

    const again = await stream(alice, topic);
    expect((await again.next("queued")).frame.requestId).toBe(queued.frame.requestId);
    expect(await socket.closed()).toBe(4009);
    await again.close();
  });

  it("takes `also` and `widen` as the socket does (checked, canonical), and never forwards the token", async () => {
    const topic = newTopic();
    const other = newTopic();
    const alice = newUser("alice");
    const token = await tokenFor(alice);
    const refused = await SELF.fetch(
      `${API}/events?difficulty=easy&topic=${topic}&also=nonsense&token=${token}`,
    );
    expect(refused.status).toBe(400);
    const res = await SELF.fetch(
      `${API}/events?difficulty=Easy&topic=${topic}&role=interviewer&also=Medium.${other}&widen=1&token=${token}`,
    );
    const events = new SseReader(res.body!);
    const queued = await events.next("queued");
    expect(queued.frame.buckets).toEqual([`easy.${topic}`, `medium.${other}`]);
    const uri = await runInDurableObject(bucketStub(`easy.${topic}`), (bucket: BucketActor) => {
      return [...bucket.getConnections(alice)][0]?.uri;
    });
    const forwarded = new URL(uri!);
    expect(forwarded.pathname).toBe(`/parties/bucket/easy.${topic}`);
    // What the join asks for reaches the actor checked, in headers; the URL it keeps is bare.
    expect(Object.fromEntries(forwarded.searchParams)).toEqual({});
    await events.close();
  });

  it("a newer stream takes over: the older one ends, the request goes on", async () => {
    const topic = newTopic();
    const alice = newUser("alice");
    const older = await stream(alice, topic);
    const queued = await older.next("queued");
    const newer = await stream(alice, topic);
    expect((await newer.next("queued")).frame.requestId).toBe(queued.frame.requestId);
    await older.end();
    expect(older.lastEventId).toBe("1-end");
    const cancelled = await api(alice, "DELETE", `/request/${queued.frame.requestId}`);
    expect(cancelled.status).toBe(200);
    await newer.next("cancelled");
    await newer.end();
  });
});

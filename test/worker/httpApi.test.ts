import { env, SELF } from "cloudflare:test";
import { afterEach, describe, expect, it, vi } from "vitest";
import { app } from "../../src/http/app.ts";
import { confirmedAnswer, queueFigures, requestView } from "../../src/protocol/http.ts";
import { API, api, newTopic, newUser } from "./httpClient.ts";
import { advanceAndRunAlarm, tokenFor } from "./socketClient.ts";

afterEach(() => {
  vi.useRealTimers();
});

describe("the seed-000 quick-test flow over HTTP", () => {
  it("two requests, confirm 202 then 200, statuses along the way", async () => {
    const topic = newTopic();
    const u1 = newUser("u1");
    const u2 = newUser("u2");
    const r1 = await api(u1, "POST", "/request", { difficulty: "Easy", topic: topic.toUpperCase() });
    expect(r1.status).toBe(201);
    const req1 = requestView.parse(r1.json);
    expect(req1).toMatchObject({ userId: u1, difficulty: "easy", topic, status: "PENDING", position: 1 });

    const r2 = await api(u2, "POST", "/request", { difficulty: "easy", topic });
    expect(r2.status).toBe(201);
    const req2 = requestView.parse(r2.json);
    expect(req2.status).toBe("MATCHED");
    const matchId = req2.match!.id;
    expect(req2.match).toMatchObject({ partnerId: u1, status: "proposed", youConfirmed: false });

    const seen1 = requestView.parse((await api(u1, "GET", `/request/${req1.id}`)).json);
    expect(seen1).toMatchObject({ status: "MATCHED", match: { id: matchId, partnerId: u2 } });

    const c1 = await api(u1, "POST", "/confirm", { match_id: matchId, confirmed: true });
    expect(c1.status).toBe(202);
    expect(c1.json).toEqual({ detail: "Waiting for partner confirmation" });
    const c2 = await api(u2, "POST", "/confirm", { match_id: matchId, confirmed: true });
    expect(c2.status).toBe(200);
    expect(confirmedAnswer.parse(c2.json)).toEqual({
      match_id: matchId,
      partner_id: u1,
      question_id: null,
      collaboration_session_id: null,
    });
    for (const [user, id] of [
      [u1, req1.id],
      [u2, req2.id],
    ] as const) {
      const final = requestView.parse((await api(user, "GET", `/request/${id}`)).json);
      expect(final).toMatchObject({
        status: "CONFIRMED",
        outcome: "confirmed",
        match: { status: "confirmed" },
      });
    }
    // The first to confirm, told 202, asks again and gets the session's ids; declining now is 409.
    const again = await api(u1, "POST", "/confirm", { match_id: matchId, confirmed: true });
    expect([again.status, again.json]).toEqual([
      200,
      { match_id: matchId, partner_id: u2, question_id: null, collaboration_session_id: null },
    ]);
    expect((await api(u1, "POST", "/confirm", { match_id: matchId, confirmed: false })).status).toBe(409);
    // Confirmed requests cannot be cancelled, and the user is free to queue again.
    expect((await api(u1, "DELETE", `/request/${req1.id}`)).status).toBe(409);
    expect((await api(u1, "GET", "/me/request")).status).toBe(404);
  });

  it("a request made over HTTP is attached to when the user opens the bucket's socket", async () => {
    const topic = newTopic();
    const room = `medium.${topic}`;
    const u = newUser("u");
    const created = requestView.parse(
      (await api(u, "POST", "/request", { difficulty: "medium", topic })).json,
    );
    const token = await tokenFor(u);
    const res = await SELF.fetch(`https://matcher.test/parties/bucket/${room}?token=${token}`, {
      headers: { Upgrade: "websocket" },
    });
    const ws = res.webSocket!;
    const first = new Promise<string>((resolve) =>
      ws.addEventListener("message", (e) => resolve(String(e.data))),
    );
    ws.accept();
    expect(JSON.parse(await first)).toMatchObject({ type: "queued", requestId: created.id });
    ws.close();
  });

  it("declining over HTTP puts the partner back in the queue", async () => {
    const topic = newTopic();
    const [u1, u2] = [newUser("u1"), newUser("u2")];
    const req1 = requestView.parse((await api(u1, "POST", "/request", { difficulty: "hard", topic })).json);
    const req2 = requestView.parse((await api(u2, "POST", "/request", { difficulty: "hard", topic })).json);
    const declined = await api(u2, "POST", "/confirm", { match_id: req2.match!.id, confirmed: false });
    expect(declined.status).toBe(200);
    expect(requestView.parse((await api(u1, "GET", `/request/${req1.id}`)).json)).toMatchObject({
      status: "PENDING",
      position: 1,
      match: null,
    });
    expect(requestView.parse((await api(u2, "GET", `/request/${req2.id}`)).json)).toMatchObject({
      status: "CANCELLED",
      outcome: "declined",
    });
    // The decliner may confirm no more: the match is over.
    expect((await api(u2, "POST", "/confirm", { match_id: req2.match!.id, confirmed: true })).status).toBe(
      409,
    );
  });

  it("confirming after the window is over answers 410", async () => {
    const topic = newTopic();
    const [u1, u2] = [newUser("u1"), newUser("u2")];
    await api(u1, "POST", "/request", { difficulty: "easy", topic });
    const req2 = requestView.parse((await api(u2, "POST", "/request", { difficulty: "easy", topic })).json);
    await advanceAndRunAlarm(`easy.${topic}`, 21_000, vi);
    const late = await api(u2, "POST", "/confirm", { match_id: req2.match!.id, confirmed: true });
    expect(late.status).toBe(410);
    expect(late.json).toMatchObject({ error: { code: "confirm_window_over" } });
  });
});

describe("one live request per user", () => {
  it("answers 200 with the same request in the same bucket, 409 elsewhere", async () => {
    const u = newUser("u");
    const topic = newTopic();
    const first = await api(u, "POST", "/request", { difficulty: "easy", topic });
    const again = await api(u, "POST", "/request", { difficulty: "EASY", topic });
    expect(again.status).toBe(200);
    expect(requestView.parse(again.json).id).toBe(requestView.parse(first.json).id);
    const elsewhere = await api(u, "POST", "/request", { difficulty: "hard", topic });
    expect(elsewhere.status).toBe(409);
    expect(elsewhere.json).toMatchObject({ error: { code: "already_queued" } });
    const me = requestView.parse((await api(u, "GET", "/me/request")).json);
    expect(me.id).toBe(requestView.parse(first.json).id);
  });

  it("closes a socket to another bucket with 4409 after an error frame", async () => {
    const u = newUser("u");
    const topic = newTopic();
    await api(u, "POST", "/request", { difficulty: "easy", topic });
    const token = await tokenFor(u);
    const res = await SELF.fetch(`https://matcher.test/parties/bucket/hard.${topic}?token=${token}`, {
      headers: { Upgrade: "websocket" },
    });
    const ws = res.webSocket!;
    const frames: string[] = [];
    const closed = new Promise<number>((resolve) => ws.addEventListener("close", (e) => resolve(e.code)));
    ws.addEventListener("message", (e) => {
      frames.push(String(e.data));
    });
    ws.accept();
    expect(await closed).toBe(4409);
    expect(JSON.parse(frames[0]!)).toMatchObject({ type: "error", code: "already_queued" });
  });

  it("releases the claim whenever a request ends, so the user can join elsewhere", async () => {
    const u = newUser("u");
    const topic = newTopic();
    const first = requestView.parse((await api(u, "POST", "/request", { difficulty: "easy", topic })).json);
    expect((await api(u, "DELETE", `/request/${first.id}`)).json).toEqual({
      message: "Match request cancelled",
    });
    expect(requestView.parse((await api(u, "GET", `/request/${first.id}`)).json).status).toBe("CANCELLED");
    expect((await api(u, "POST", "/request", { difficulty: "hard", topic })).status).toBe(201);
    // A timed-out request frees the user too.
    await advanceAndRunAlarm(`hard.${topic}`, 61_000, vi);
    vi.useRealTimers();
    expect((await api(u, "POST", "/request", { difficulty: "medium", topic })).status).toBe(201);
  });

  it("one user racing requests into two buckets ends with exactly one live request", async () => {
    for (let round = 0; round < 3; round++) {
      const u = newUser("racer");
      const topic = newTopic();
      const answers = await Promise.all(
        ["easy", "medium", "hard"].map((difficulty) => api(u, "POST", "/request", { difficulty, topic })),
      );
      const statuses = answers.map((a) => a.status).sort();
      expect(statuses).toEqual([201, 409, 409]);
      const winner = requestView.parse(answers.find((a) => a.status === 201)!.json);
      expect(requestView.parse((await api(u, "GET", "/me/request")).json).id).toBe(winner.id);
    }
  });
});

describe("queue figures, rate limits and maintenance", () => {
  it("reports live figures for a bucket", async () => {
    const topic = newTopic();
    await api(newUser("a"), "POST", "/request", { difficulty: "easy", topic });
    await api(newUser("b"), "POST", "/request", { difficulty: "easy", topic });
    await api(newUser("c"), "POST", "/request", { difficulty: "easy", topic });
    const figures = queueFigures.parse((await api(newUser("d"), "GET", `/queues/easy/${topic}`)).json);
    expect(figures).toMatchObject({ waiting: 1, matchedLastHour: 1, difficulty: "easy", topic });
    expect(figures.p50WaitMs).not.toBeNull();
  });

  it("answers 429 with Retry-After past the join rate, and closes sockets with 4029", async () => {
    const u = newUser("eager");
    const topic = newTopic();
    const statuses: number[] = [];
    let limited: Awaited<ReturnType<typeof api>> | undefined;
    for (let i = 0; i < 25 && !limited; i++) {
      const r = await api(u, "POST", "/request", { difficulty: "easy", topic });
      statuses.push(r.status);
      if (r.status === 429) limited = r;
    }
    expect(limited, `statuses: ${statuses.join(",")}`).toBeDefined();
    expect(limited!.headers.get("Retry-After")).toBe("60");
    expect(limited!.json).toMatchObject({ error: { code: "rate_limited" } });
    const token = await tokenFor(u);
    const res = await SELF.fetch(`https://matcher.test/parties/bucket/easy.${topic}?token=${token}`, {
      headers: { Upgrade: "websocket" },
    });
    const ws = res.webSocket!;
    const closed = new Promise<number>((resolve) => ws.addEventListener("close", (e) => resolve(e.code)));
    ws.accept();
    expect(await closed).toBe(4029);
  });

  it("in maintenance, refuses new requests with 503 while requests under way go on", async () => {
    // A tenant of its own: the switch is the tenant's, and other tests must not see it.
    const tenant = `m-${crypto.randomUUID().slice(0, 8)}`;
    const topic = newTopic();
    const waiting = newUser("waiting");
    const call = async (userId: string, method: string, path: string, body?: unknown, admin = false) =>
      SELF.fetch(`https://matcher.test/api/v1/matching${path}`, {
        method,
        headers: {
          authorization: `Bearer ${await tokenFor(userId, { claims: { tenant_id: tenant, ...(admin ? { role: "admin" } : {}) } })}`,
          "content-type": "application/json",
        },
        body: body === undefined ? undefined : JSON.stringify(body),
      });
    const created = requestView.parse(
      await (await call(waiting, "POST", "/request", { difficulty: "easy", topic })).json(),
    );
    expect((await call(newUser("ops"), "PUT", "/internal/maintenance", { on: true }, true)).status).toBe(200);
    const refused = await call(newUser("new"), "POST", "/request", { difficulty: "easy", topic });
    expect(refused.status).toBe(503);
    expect(refused.headers.get("retry-after")).toBe("300");
    expect(await refused.json()).toMatchObject({ error: { code: "maintenance" } });
    expect((await call(waiting, "POST", "/request", { difficulty: "easy", topic })).status).toBe(200);
    expect((await call(waiting, "GET", `/request/${created.id}`)).status).toBe(200);
    expect((await call(waiting, "DELETE", `/request/${created.id}`)).status).toBe(200);
    expect((await call(newUser("ops"), "PUT", "/internal/maintenance", { on: false }, true)).status).toBe(
      200,
    );
    expect((await call(newUser("new"), "POST", "/request", { difficulty: "easy", topic })).status).toBe(201);
  });
});

describe("maintenance on the socket path", () => {
  it("turns a new socket away with an error frame and 1013, but lets a live request resume", async () => {
    const tenant = `m-${crypto.randomUUID().slice(0, 8)}`;
    const claims = { tenant_id: tenant };
    const topic = newTopic();
    const room = `easy.${topic}`;
    const waiting = newUser("waiting");
    const admin = await tokenFor(newUser("ops"), { claims: { ...claims, role: "admin" } });
    await SELF.fetch(`${API}/request`, {
      method: "POST",
      headers: {
        authorization: `Bearer ${await tokenFor(waiting, { claims })}`,
        "content-type": "application/json",
      },
      body: JSON.stringify({ difficulty: "easy", topic }),
    });
    const switched = await SELF.fetch(`${API}/internal/maintenance`, {
      method: "PUT",
      headers: { authorization: `Bearer ${admin}`, "content-type": "application/json" },
      body: JSON.stringify({ on: true }),
    });
    expect(await switched.json()).toMatchObject({ on: true });
    const connect = async (userId: string) => {
      const res = await SELF.fetch(
        `https://matcher.test/parties/bucket/${room}?token=${await tokenFor(userId, { claims })}`,
        { headers: { Upgrade: "websocket" } },
      );
      const ws = res.webSocket!;
      const first = new Promise<{ type: string; code?: string }>((resolve) =>
        ws.addEventListener("message", (e) => resolve(JSON.parse(String(e.data)))),
      );
      const closed = new Promise<number>((resolve) => ws.addEventListener("close", (e) => resolve(e.code)));
      ws.accept();
      return { ws, first, closed };
    };
    const turnedAway = await connect(newUser("new"));
    expect(await turnedAway.first).toMatchObject({ type: "error", code: "maintenance" });
    expect(await turnedAway.closed).toBe(1013);
    const resumed = await connect(waiting);
    expect(await resumed.first).toMatchObject({ type: "queued" });
    resumed.ws.close();
  });
});

describe("token expiry on an open socket", () => {
  it("closes a waiting socket with 4001 when its token expires; the request keeps its grace", async () => {
    const topic = newTopic();
    const room = `easy.${topic}`;
    const u = newUser("u");
    const connect = async (ttlSeconds: number) => {
      const res = await SELF.fetch(
        `https://matcher.test/parties/bucket/${room}?token=${await tokenFor(u, { ttlSeconds })}`,
        { headers: { Upgrade: "websocket" } },
      );
      const ws = res.webSocket!;
      const first = new Promise<{ requestId: string }>((resolve) =>
        ws.addEventListener("message", (e) => resolve(JSON.parse(String(e.data)))),
      );
      const closed = new Promise<number>((resolve) => ws.addEventListener("close", (e) => resolve(e.code)));
      ws.accept();
      return { ws, first, closed };
    };
    const short = await connect(30);
    const { requestId } = await short.first;
    expect(await advanceAndRunAlarm(room, 31_000, vi)).toBe(true);
    expect(await short.closed).toBe(4001);
    // Within the grace, a fresh token resumes the same request.
    const fresh = await connect(3600);
    expect((await fresh.first).requestId).toBe(requestId);
    fresh.ws.close();
  });
});

describe("API documents", () => {
  it("serves OpenAPI 3.1 generated from the schemas, and an interactive docs page", async () => {
    const doc = (await (await SELF.fetch("https://matcher.test/api/v1/matching/openapi.json")).json()) as {
      openapi: string;
      paths: Record<string, unknown>;
    };
    expect(doc.openapi).toBe("3.1.0");
    expect(Object.keys(doc.paths)).toEqual(
      expect.arrayContaining([
        "/request",
        "/request/{id}",
        "/me/request",
        "/confirm",
        "/queues/{difficulty}/{topic}",
      ]),
    );
    const docs = await SELF.fetch("https://matcher.test/docs");
    expect(docs.headers.get("content-type")).toContain("text/html");
    expect(await docs.text()).toContain("openapi.json");
  });

  it("has no dev token endpoint unless DEV_TOKENS=1", async () => {
    const res = await SELF.fetch("https://matcher.test/api/v1/matching/dev/token", {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ userId: "alice" }),
    });
    expect(res.status).toBe(404);
    const on = await app.request(
      "/api/v1/matching/dev/token",
      {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ userId: "alice" }),
      },
      { ...env, DEV_TOKENS: "1" },
    );
    expect(on.status).toBe(200);
    const { token } = (await on.json()) as { token: string };
    // `admin: true` mints an admin's token (the dashboard's development sign-in); the default does not.
    const admin = await app.request(
      "/api/v1/matching/dev/token",
      {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ userId: "ops", admin: true }),
      },
      { ...env, DEV_TOKENS: "1" },
    );
    const { token: adminToken } = (await admin.json()) as { token: string };
    const maintenance = (t: string) =>
      SELF.fetch("https://matcher.test/api/v1/matching/internal/maintenance", {
        headers: { authorization: `Bearer ${t}` },
      });
    expect((await maintenance(adminToken)).status).toBe(200);
    expect((await maintenance(token)).status).toBe(403);
  });
});

describe("CORS", () => {
  it("allows only the origins in CORS_ORIGINS", async () => {
    const allowed = { ...env, CORS_ORIGINS: "https://app.example, https://other.example" };
    const preflight = (origin: string) =>
      app.request(
        "/api/v1/matching/request",
        {
          method: "OPTIONS",
          headers: {
            Origin: origin,
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "authorization",
          },
        },
        allowed,
      );
    const ok = await preflight("https://app.example");
    expect(ok.headers.get("Access-Control-Allow-Origin")).toBe("https://app.example");
    expect(ok.headers.get("Access-Control-Allow-Headers")?.toLowerCase()).toContain("authorization");
    const no = await preflight("https://evil.example");
    expect(no.headers.get("Access-Control-Allow-Origin")).toBeNull();
    const health = await app.request(
      "/api/v1/matching/health",
      { headers: { Origin: "https://other.example" } },
      allowed,
    );
    expect(health.headers.get("Access-Control-Allow-Origin")).toBe("https://other.example");
  });
});

describe("TOPICS", () => {
  it("refuses any topic not listed, comparing canonical slugs", async () => {
    const limited = { ...env, TOPICS: "Arrays, Dynamic Programming" };
    const post = async (topic: string) =>
      app.request(
        "/api/v1/matching/request",
        {
          method: "POST",
          headers: {
            authorization: `Bearer ${await tokenFor(newUser("u"))}`,
            "content-type": "application/json",
          },
          body: JSON.stringify({ difficulty: "easy", topic }),
        },
        limited,
      );
    expect((await post("dynamic programming")).status).toBe(201);
    const refused = await post("graphs");
    expect(refused.status).toBe(400);
    expect(await refused.json()).toMatchObject({ error: { code: "unknown_topic" } });
    const socket = await app.request(
      `/parties/bucket/easy.graphs?token=${await tokenFor(newUser("u"))}`,
      { headers: { Upgrade: "websocket" } },
      limited,
    );
    expect(socket.status).toBe(400);
  });
});

import { describe, expect, inject, it } from "vitest";
import { parseConfig } from "../../src/config.ts";
import { CollabPool, collabPoolFor, UNHEALTHY_MS } from "../../src/orchestration/collabPool.ts";
import { SetupFailedError, setUpSession } from "../../src/orchestration/setUpSession.ts";
import { TEST_JWT_SECRET } from "../testSecret.ts";

// Provided by test/setup/standInServices.ts (a root globalSetup); declared here too because the
// Worker tests' tsconfig does not include the Node-side setup files.
declare module "vitest" {
  interface ProvidedContext {
    standInServices: Record<"good" | "failing" | "slow" | "flaky" | "rejecting" | "malformed", string>;
  }
}

type Calls = {
  question: number;
  collab: number;
  requests: Array<{ endpoint: "question" | "collab"; body: unknown; idempotencyKey: string | null }>;
};

const standIns = inject("standInServices");

/** A fresh key on one stand-in, so each test counts only its own calls. */
function service(kind: keyof typeof standIns): { url: string; calls(): Promise<Calls> } {
  const url = `${standIns[kind]}/k/${crypto.randomUUID()}`;
  return { url, calls: async () => (await fetch(`${url}/calls`)).json<Calls>() };
}

const match = { difficulty: "easy", topic: "arrays", users: ["alice", "bob"] as const };
/** Short timings so the failure paths run in well under a second. */
const quick = { attemptTimeoutMs: 300, attempts: 3, backoffMs: 20 };

async function failure(work: Promise<unknown>): Promise<SetupFailedError> {
  const error = await work.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(SetupFailedError);
  return error as SetupFailedError;
}

describe("setUpSession", () => {
  it("asks the question service, then the collaboration service with that question", async () => {
    const questions = service("good");
    const collab = service("good");
    const ids = await setUpSession(
      { questionServiceUrl: questions.url, collabServiceUrl: `${collab.url}/` },
      { ...match, matchId: "mat_12345678" },
    );
    expect(ids).toEqual({
      questionId: "q-easy-arrays",
      collaborationSessionId: "room-alice+bob-q-easy-arrays",
    });
    expect(await questions.calls()).toEqual({
      question: 1,
      collab: 0,
      requests: [
        {
          endpoint: "question",
          body: { difficulty: "easy", topic: "arrays" },
          idempotencyKey: "mat_12345678:question",
        },
      ],
    });
    expect(await collab.calls()).toEqual({
      question: 0,
      collab: 1,
      requests: [
        {
          endpoint: "collab",
          body: { user_ids: ["alice", "bob"], question_id: "q-easy-arrays" },
          idempotencyKey: "mat_12345678:collab",
        },
      ],
    });
  });

  it("answers null ids without any call when no service is configured", async () => {
    const noFetch = () => Promise.reject(new Error("must not be called"));
    expect(await setUpSession({}, match, { fetch: noFetch })).toEqual({
      questionId: null,
      collaborationSessionId: null,
    });
    expect(
      await setUpSession({ questionServiceUrl: undefined, collabServiceUrl: "" }, match, { fetch: noFetch }),
    ).toEqual({ questionId: null, collaborationSessionId: null });
  });

  it("asks only the configured service: a session without a question", async () => {
    const collab = service("good");
    expect(await setUpSession({ collabServiceUrl: collab.url }, match)).toEqual({
      questionId: null,
      collaborationSessionId: "room-alice+bob-null",
    });
    const calls = await collab.calls();
    expect(calls.requests.map((r) => r.body)).toEqual([{ user_ids: ["alice", "bob"], question_id: null }]);
    expect(calls.requests[0]?.idempotencyKey).toBeNull();
  });

  it("tells the collaboration service the tenant of users outside the default one", async () => {
    const collab = service("good");
    await setUpSession({ collabServiceUrl: collab.url }, { ...match, tenant: "acme" });
    await setUpSession({ collabServiceUrl: collab.url }, { ...match, tenant: "default" });
    expect((await collab.calls()).requests.map((r) => r.body)).toEqual([
      { user_ids: ["alice", "bob"], question_id: null, tenant_id: "acme" },
      { user_ids: ["alice", "bob"], question_id: null },
    ]);
  });

  it("retries 5xx answers with backoff and succeeds when the service recovers", async () => {
    const flaky = service("flaky");
    const started = Date.now();
    const ids = await setUpSession({ questionServiceUrl: flaky.url, collabServiceUrl: flaky.url }, match, {
      ...quick,
      backoffMs: 50,
    });
    expect(ids).toEqual({
      questionId: "q-easy-arrays",
      collaborationSessionId: "room-alice+bob-q-easy-arrays",
    });
    const calls = await flaky.calls();
    expect([calls.question, calls.collab]).toEqual([3, 3]);
    // Two waits per service: 50 then 100 ms.
    expect(Date.now() - started).toBeGreaterThanOrEqual(2 * (50 + 100) - 10);
  });

  it("gives up after the attempts on a service that keeps answering 500", async () => {
    const failing = service("failing");
    const collab = service("good");
    const error = await failure(
      setUpSession({ questionServiceUrl: failing.url, collabServiceUrl: collab.url }, match, quick),
    );
    expect(error).toMatchObject({ service: "question", reason: "server_error", status: 500, attempts: 3 });
    expect((await failing.calls()).question).toBe(3);
    // Nothing is asked of the collaboration service once the question failed.
    expect((await collab.calls()).collab).toBe(0);
  });

  it("times out each attempt on a slow service and fails after attempts x timeout", async () => {
    const slow = service("slow");
    const started = Date.now();
    const error = await failure(setUpSession({ questionServiceUrl: slow.url }, match, quick));
    const elapsed = Date.now() - started;
    expect(error).toMatchObject({ service: "question", reason: "timeout", attempts: 3 });
    expect(error.message).toMatch(/no answer within 300 ms/);
    // 3 x 300 ms plus backoff 20 + 40 ms; the stand-in would have taken 3 s per call.
    expect(elapsed).toBeGreaterThanOrEqual(3 * 300 + 60 - 20);
    expect(elapsed).toBeLessThan(2_500);
    expect((await slow.calls()).question).toBe(3);
  });

  it("does not retry a 4xx: asking again would get the same answer", async () => {
    const rejecting = service("rejecting");
    const error = await failure(setUpSession({ questionServiceUrl: rejecting.url }, match, quick));
    expect(error).toMatchObject({ service: "question", reason: "rejected", status: 400, attempts: 1 });
    expect((await rejecting.calls()).question).toBe(1);

    const collab = service("rejecting");
    const collabError = await failure(setUpSession({ collabServiceUrl: collab.url }, match, quick));
    expect(collabError).toMatchObject({ service: "collab", reason: "rejected", attempts: 1 });
    expect((await collab.calls()).collab).toBe(1);
  });

  it("refuses an answer of the wrong shape without retrying", async () => {
    const malformed = service("malformed");
    const error = await failure(setUpSession({ questionServiceUrl: malformed.url }, match, quick));
    expect(error).toMatchObject({
      service: "question",
      reason: "invalid_response",
      status: 200,
      attempts: 1,
    });
    expect((await malformed.calls()).question).toBe(1);
  });

  it("retries network errors and reports them when the service cannot be reached", async () => {
    const error = await failure(
      setUpSession({ questionServiceUrl: "http://127.0.0.1:9" }, match, { ...quick, attempts: 2 }),
    );
    expect(error).toMatchObject({ service: "question", attempts: 2 });
    expect(["network", "timeout"]).toContain(error.reason);
  });

  it("fails with the collaboration service named when only it fails", async () => {
    const questions = service("good");
    const collab = service("failing");
    const error = await failure(
      setUpSession({ questionServiceUrl: questions.url, collabServiceUrl: collab.url }, match, {
        ...quick,
        attempts: 2,
      }),
    );
    expect(error).toMatchObject({ service: "collab", reason: "server_error", attempts: 2 });
    expect(error.message).toMatch(/^collab service: server_error after 2 attempts/);
    expect((await collab.calls()).collab).toBe(2);
  });

  it("uses the injected fetch and the default policy (3 attempts)", async () => {
    let calls = 0;
    const fakeFetch = (async () => {
      calls++;
      return new Response("busy", { status: 503 });
    }) as typeof fetch;
    const error = await failure(
      setUpSession({ questionServiceUrl: "https://questions.invalid" }, match, {
        fetch: fakeFetch,
        backoffMs: 1,
      }),
    );
    expect(error).toMatchObject({ reason: "server_error", status: 503, attempts: 3 });
    expect(calls).toBe(3);
  });
});

/** A fetch that answers each base URL with `answer(base)` (a status) and logs every call. */
function poolFetch(answer: (base: string) => number | "hang") {
  const calls: Array<{ base: string; idempotencyKey: string | null }> = [];
  const fakeFetch = (async (input: RequestInfo | URL, init?: RequestInit) => {
    const base = new URL(String(input)).origin;
    calls.push({ base, idempotencyKey: new Headers(init?.headers).get("idempotency-key") });
    const status = answer(base);
    if (status === "hang") {
      return new Promise<Response>((_, reject) =>
        init?.signal?.addEventListener("abort", () => reject(init.signal?.reason)),
      );
    }
    return status < 300
      ? Response.json({ session_id: `s-at-${new URL(base).hostname}` }, { status })
      : new Response("no", { status });
  }) as typeof fetch;
  return { fetch: fakeFetch, calls, bases: () => calls.map((c) => new URL(c.base).hostname.split(".")[0]) };
}

const [A, B, C, D] = ["https://a.invalid", "https://b.invalid", "https://c.invalid", "https://d.invalid"];
const collabOnly = (pool: CollabPool) => ({ collabServiceUrl: pool });
/** A backoff long enough to see: moving on to a URL the session has not tried waits none. */
const noWait = { attemptTimeoutMs: 300, attempts: 3, backoffMs: 1_000 };

describe("collaboration pool (COLLAB_SERVICE_URL with several URLs)", () => {
  it("reads COLLAB_SERVICE_URL as a comma list of http(s) URLs and names the key for a bad one", () => {
    const read = (value: string | undefined) =>
      parseConfig({ JWT_SECRET: TEST_JWT_SECRET, COLLAB_SERVICE_URL: value });
    const urls = (value: string | undefined) => {
      const r = read(value);
      return r.ok ? r.config.COLLAB_SERVICE_URL : r.problems;
    };
    expect(urls(undefined)).toEqual([]);
    expect(urls("")).toEqual([]);
    expect(urls("https://collab.example/api")).toEqual(["https://collab.example/api"]);
    expect(urls(" https://a.example , http://10.0.0.2:8080/,")).toEqual([
      "https://a.example",
      "http://10.0.0.2:8080/",
    ]);
    expect(urls("https://a.example,ftp://b.example")).toEqual([
      {
        key: "COLLAB_SERVICE_URL",
        message: 'must be a comma list of http(s) URLs; "ftp://b.example" is not one',
      },
    ]);
    expect(urls("not a url")).toMatchObject([{ key: "COLLAB_SERVICE_URL" }]);
  });

  it("keeps one pool per owner (a bucket actor), and none without URLs", () => {
    const owner = {};
    const pool = collabPoolFor(owner, [A, B]);
    expect(pool?.urls).toEqual([A, B]);
    expect(collabPoolFor(owner, [A, B])).toBe(pool);
    expect(collabPoolFor({}, [A, B])).not.toBe(pool);
    expect(collabPoolFor(owner, [])).toBeUndefined();
    expect(new CollabPool([A, A, B]).urls).toEqual([A, B]);
  });

  it("spreads sessions round-robin over the URLs, from the pool's starting turn", async () => {
    const service = poolFetch(() => 201);
    const pool = new CollabPool([A, B, C], { start: 1 });
    const sessions: Array<string | null> = [];
    for (let i = 0; i < 6; i++) {
      sessions.push(
        (await setUpSession(collabOnly(pool), match, { fetch: service.fetch })).collaborationSessionId,
      );
    }
    expect(service.bases()).toEqual(["b", "c", "a", "b", "c", "a"]);
    expect(sessions).toEqual([
      "s-at-b.invalid",
      "s-at-c.invalid",
      "s-at-a.invalid",
      "s-at-b.invalid",
      "s-at-c.invalid",
      "s-at-a.invalid",
    ]);
  });

  it("moves a session to the next URL at once when its URL fails, with the same idempotency key", async () => {
    const service = poolFetch((base) => (base === B ? 503 : 201));
    const pool = new CollabPool([A, B, C], { start: 1 });
    const started = Date.now();
    const ids = await setUpSession(
      collabOnly(pool),
      { ...match, matchId: "mat_1" },
      { ...noWait, fetch: service.fetch },
    );
    expect(ids.collaborationSessionId).toBe("s-at-c.invalid");
    expect(service.calls).toEqual([
      { base: B, idempotencyKey: "mat_1:collab" },
      { base: C, idempotencyKey: "mat_1:collab" },
    ]);
    expect(Date.now() - started).toBeLessThan(500);
  });

  it("moves on from a URL that does not answer in time", async () => {
    const service = poolFetch((base) => (base === A ? "hang" : 201));
    const pool = new CollabPool([A, B], { start: 0 });
    const started = Date.now();
    const ids = await setUpSession(collabOnly(pool), match, { ...noWait, fetch: service.fetch });
    expect(ids.collaborationSessionId).toBe("s-at-b.invalid");
    expect(service.bases()).toEqual(["a", "b"]);
    expect(Date.now() - started).toBeLessThan(2_000);
  });

  it("skips a failed URL for the next sessions until its unhealthy window is over", async () => {
    let now = 1_000_000;
    let bDown = true;
    const service = poolFetch((base) => (base === B && bDown ? 500 : 201));
    const pool = new CollabPool([A, B, C], { start: 1, now: () => now });
    const once = () => setUpSession(collabOnly(pool), match, { ...noWait, fetch: service.fetch });
    await once(); // b fails, c creates it
    expect(pool.isUnhealthy(B)).toBe(true);
    for (let i = 0; i < 4; i++) await once();
    // The healthy ones take turns; b is not asked.
    expect(service.bases()).toEqual(["b", "c", "a", "c", "a", "c"]);
    now += UNHEALTHY_MS + 1;
    bDown = false;
    service.calls.length = 0;
    for (let i = 0; i < 3; i++) await once();
    expect(service.bases().sort()).toEqual(["a", "b", "c"]);
    expect(pool.isUnhealthy(B)).toBe(false);
  });

  it("with every URL unhealthy, still tries them in turn rather than giving up", async () => {
    const service = poolFetch(() => 201);
    const pool = new CollabPool([A, B], { start: 0 });
    pool.failed(A);
    pool.failed(B);
    expect(
      (await setUpSession(collabOnly(pool), match, { fetch: service.fetch })).collaborationSessionId,
    ).toBe("s-at-a.invalid");
    // a answered, so it is healthy again and preferred while b's window lasts.
    expect([pool.isUnhealthy(A), pool.isUnhealthy(B)]).toEqual([false, true]);
    await setUpSession(collabOnly(pool), match, { fetch: service.fetch });
    expect(service.bases()).toEqual(["a", "a"]);
  });

  it("fails with every URL tried, once each, when all of them fail", async () => {
    const service = poolFetch(() => 503);
    const pool = new CollabPool([A, B, C, D], { start: 2 });
    const error = await failure(setUpSession(collabOnly(pool), match, { ...noWait, fetch: service.fetch }));
    expect(error).toMatchObject({ service: "collab", reason: "server_error", status: 503, attempts: 4 });
    expect(error.message).toMatch(/all 4 URLs tried/);
    expect(service.bases()).toEqual(["c", "d", "a", "b"]);
  });

  it("shares the retries over a small pool, backing off only before going back to a URL", async () => {
    const service = poolFetch(() => 503);
    const pool = new CollabPool([A, B], { start: 0 });
    const started = Date.now();
    const error = await failure(
      setUpSession(collabOnly(pool), match, {
        attempts: 3,
        backoffMs: 150,
        attemptTimeoutMs: 300,
        fetch: service.fetch,
      }),
    );
    expect(error).toMatchObject({ service: "collab", attempts: 3 });
    expect(service.bases()).toEqual(["a", "b", "a"]);
    // One backoff (before a again), none between a and b.
    expect(Date.now() - started).toBeGreaterThanOrEqual(140);
    expect(Date.now() - started).toBeLessThan(140 + 150 * 2);
  });

  it("does not ask a URL that refused again, but does try the next one", async () => {
    const refusing = poolFetch((base) => (base === A ? 400 : base === B ? 500 : 201));
    const pool = new CollabPool([A, B], { start: 0 });
    const error = await failure(
      setUpSession(collabOnly(pool), match, {
        attempts: 3,
        backoffMs: 1,
        attemptTimeoutMs: 300,
        fetch: refusing.fetch,
      }),
    );
    expect(error).toMatchObject({ reason: "server_error", attempts: 3 });
    expect(refusing.bases()).toEqual(["a", "b", "b"]);

    const recovering = poolFetch((base) => (base === A ? 404 : 201));
    const ids = await setUpSession(collabOnly(new CollabPool([A, B], { start: 0 })), match, {
      ...noWait,
      fetch: recovering.fetch,
    });
    expect(ids.collaborationSessionId).toBe("s-at-b.invalid");
  });

  it("with the stand-in services: sessions alternate between two healthy URLs", async () => {
    const [x, y] = [service("good"), service("good")];
    const pool = new CollabPool([x.url, y.url], { start: 0 });
    for (let i = 1; i <= 4; i++) {
      const ids = await setUpSession(collabOnly(pool), { ...match, matchId: `mat_rr${i}` });
      expect(ids.collaborationSessionId).toBe("room-alice+bob-null");
    }
    const keys = async (s: { calls(): Promise<Calls> }) =>
      (await s.calls()).requests.map((r) => r.idempotencyKey);
    expect(await keys(x)).toEqual(["mat_rr1:collab", "mat_rr3:collab"]);
    expect(await keys(y)).toEqual(["mat_rr2:collab", "mat_rr4:collab"]);
  });

  it("with the stand-in services: a failing URL is skipped and the session created on the next", async () => {
    const [x, down, z] = [service("good"), service("failing"), service("good")];
    const pool = new CollabPool([x.url, down.url, z.url], { start: 1 });
    for (let i = 1; i <= 3; i++) {
      const ids = await setUpSession(collabOnly(pool), { ...match, matchId: `mat_sk${i}` }, quick);
      expect(ids.collaborationSessionId).toBe("room-alice+bob-null");
    }
    const keys = async (s: { calls(): Promise<Calls> }) =>
      (await s.calls()).requests.map((r) => r.idempotencyKey);
    // Session 1 was down's turn: one attempt there, then created on the next URL, z.
    expect(await keys(down)).toEqual(["mat_sk1:collab"]);
    expect(await keys(z)).toEqual(["mat_sk1:collab", "mat_sk3:collab"]);
    // Later sessions take turns over the healthy two and skip down.
    expect(await keys(x)).toEqual(["mat_sk2:collab"]);
  });
});

import { describe, expect, inject, it } from "vitest";
import { SetupFailedError, setUpSession } from "../../src/orchestration/setUpSession.ts";

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

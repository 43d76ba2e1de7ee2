import { z } from "zod";

/**
 * When both sides confirm, ask the question service for a question and the collaboration service
 * for a session (seed 000's orchestration):
 *   POST {QUESTION_SERVICE_URL}/api/v1/questions/select {difficulty, topic}      -> {id}
 *   POST {COLLAB_SERVICE_URL}/api/v1/collab/sessions    {user_ids, question_id} -> {session_id}
 * Each call gets a per-attempt timeout and a few retries with doubling backoff on network errors,
 * timeouts, 5xx, 408 and 429; any other 4xx, or a success whose body is not the expected shape,
 * fails at once (asking again would get the same answer). A service that is not configured is
 * skipped and its id is null.
 */

export type SessionServices = {
  questionServiceUrl?: string | undefined;
  collabServiceUrl?: string | undefined;
};

export type SessionMatch = {
  difficulty: string;
  topic: string;
  users: readonly [string, string];
  /** When given, sent as `Idempotency-Key` (`{matchId}:question` / `{matchId}:collab`), so a
   * service that honours it creates one session even if a timed-out attempt did get through. */
  matchId?: string;
};

export type SetUpOptions = {
  fetch?: typeof fetch;
  /** Per attempt, response body included. Default 2000. */
  attemptTimeoutMs?: number;
  /** Attempts per service, first one included. Default 3. */
  attempts?: number;
  /** Wait before the second attempt, doubling after each. Default 200. */
  backoffMs?: number;
};

export type SessionIds = { questionId: string | null; collaborationSessionId: string | null };

export type SetupService = "question" | "collab";
export type SetupFailureReason = "timeout" | "network" | "server_error" | "rejected" | "invalid_response";

/** A configured service still failed after its retries (or refused outright). */
export class SetupFailedError extends Error {
  readonly service: SetupService;
  readonly reason: SetupFailureReason;
  /** HTTP status of the last answer, if there was one. */
  readonly status: number | undefined;
  readonly attempts: number;

  constructor(
    service: SetupService,
    reason: SetupFailureReason,
    attempts: number,
    detail: string,
    status?: number,
  ) {
    super(`${service} service: ${reason} after ${attempts} attempt${attempts === 1 ? "" : "s"} (${detail})`);
    this.name = "SetupFailedError";
    this.service = service;
    this.reason = reason;
    this.status = status;
    this.attempts = attempts;
  }
}

const idValue = z.union([z.string().trim().min(1).max(256), z.number().int().transform(String)]);
const questionAnswer = z.object({ id: idValue });
const collabAnswer = z.object({ session_id: idValue });

export async function setUpSession(
  config: SessionServices,
  match: SessionMatch,
  options: SetUpOptions = {},
): Promise<SessionIds> {
  const policy: Policy = {
    fetch: options.fetch ?? ((input, init) => fetch(input, init)),
    attemptTimeoutMs: options.attemptTimeoutMs ?? 2_000,
    attempts: Math.max(1, Math.trunc(options.attempts ?? 3)),
    backoffMs: options.backoffMs ?? 200,
  };
  let questionId: string | null = null;
  if (config.questionServiceUrl) {
    const answer = await call(
      policy,
      "question",
      endpoint(config.questionServiceUrl, "/api/v1/questions/select"),
      {
        body: { difficulty: match.difficulty, topic: match.topic },
        schema: questionAnswer,
        idempotencyKey: match.matchId ? `${match.matchId}:question` : undefined,
      },
    );
    questionId = answer.id;
  }
  let collaborationSessionId: string | null = null;
  if (config.collabServiceUrl) {
    const answer = await call(
      policy,
      "collab",
      endpoint(config.collabServiceUrl, "/api/v1/collab/sessions"),
      {
        body: { user_ids: [...match.users], question_id: questionId },
        schema: collabAnswer,
        idempotencyKey: match.matchId ? `${match.matchId}:collab` : undefined,
      },
    );
    collaborationSessionId = answer.session_id;
  }
  return { questionId, collaborationSessionId };
}

type Policy = Required<SetUpOptions>;

/** `base` may carry a path prefix (`https://svc.example/peerprep`); a trailing slash is dropped. */
function endpoint(base: string, path: string): string {
  return `${base.replace(/\/+$/, "")}${path}`;
}

type Failure = { reason: SetupFailureReason; retry: boolean; detail: string; status?: number };

async function call<T>(
  policy: Policy,
  service: SetupService,
  url: string,
  request: { body: unknown; schema: z.ZodType<T>; idempotencyKey: string | undefined },
): Promise<T> {
  const headers: Record<string, string> = { "content-type": "application/json", accept: "application/json" };
  if (request.idempotencyKey) headers["idempotency-key"] = request.idempotencyKey;
  let last: Failure | undefined;
  for (let attempt = 1; attempt <= policy.attempts; attempt++) {
    if (attempt > 1) await sleep(policy.backoffMs * 2 ** (attempt - 2));
    const outcome = await attemptOnce(policy, url, headers, request);
    if (outcome.ok) return outcome.value;
    last = outcome.failure;
    if (!last.retry) throw new SetupFailedError(service, last.reason, attempt, last.detail, last.status);
  }
  const final: Failure = last ?? { reason: "network", retry: false, detail: "no attempt made" };
  throw new SetupFailedError(service, final.reason, policy.attempts, final.detail, final.status);
}

async function attemptOnce<T>(
  policy: Policy,
  url: string,
  headers: Record<string, string>,
  request: { body: unknown; schema: z.ZodType<T> },
): Promise<{ ok: true; value: T } | { ok: false; failure: Failure }> {
  const signal = AbortSignal.timeout(policy.attemptTimeoutMs);
  let status: number | undefined;
  try {
    const res = await policy.fetch(url, {
      method: "POST",
      headers,
      body: JSON.stringify(request.body),
      signal,
    });
    status = res.status;
    // Read the body under the same deadline: a service that sends headers and then stalls is slow.
    const text = await res.text();
    if (res.status >= 500 || res.status === 408 || res.status === 429) {
      return fail({ reason: "server_error", retry: true, detail: `HTTP ${res.status}`, status });
    }
    if (!res.ok) return fail({ reason: "rejected", retry: false, detail: `HTTP ${res.status}`, status });
    let json: unknown;
    try {
      json = JSON.parse(text);
    } catch {
      return fail({ reason: "invalid_response", retry: false, detail: "the body is not JSON", status });
    }
    const parsed = request.schema.safeParse(json);
    if (!parsed.success) {
      return fail({ reason: "invalid_response", retry: false, detail: "unexpected response shape", status });
    }
    return { ok: true, value: parsed.data };
  } catch (e) {
    if (signal.aborted) {
      return fail({
        reason: "timeout",
        retry: true,
        detail: `no answer within ${policy.attemptTimeoutMs} ms`,
        status,
      });
    }
    return fail({
      reason: "network",
      retry: true,
      detail: e instanceof Error ? e.message : String(e),
      status,
    });
  }
}

function fail(failure: Failure): { ok: false; failure: Failure } {
  return { ok: false, failure };
}

function sleep(ms: number): Promise<void> {
  return ms > 0 ? new Promise((resolve) => setTimeout(resolve, ms)) : Promise.resolve();
}

import { z } from "zod";
import { DEFAULT_TENANT } from "../tenancy.ts";
import { CollabPool } from "./collabPool.ts";

/**
 * When both sides confirm, ask the question service for a question and the collaboration service
 * for a session (PeerPrep's orchestration):
 *   POST {QUESTION_SERVICE_URL}/api/v1/questions/select {difficulty, topic}      -> {id}
 *   POST {COLLAB_SERVICE_URL}/api/v1/collab/sessions    {user_ids, question_id} -> {session_id}
 * (plus `tenant_id` for a tenant other than the default: user ids are only unique within one)
 * Each call gets a per-attempt timeout and a few retries with doubling backoff on network errors,
 * timeouts, 5xx, 408 and 429; any other 4xx, or a success whose body is not the expected shape,
 * fails at once (asking again would get the same answer). A service that is not configured is
 * skipped and its id is null.
 *
 * The collaboration service may be a pool of URLs (src/orchestration/collabPool.ts): the session
 * goes to the URL whose turn it is, and an attempt that fails there moves it to the next URL at
 * once rather than after that URL's retries, so a dead server costs one attempt, not a whole
 * retry policy. The retries are shared by the pool: max(attempts, URLs) attempts in all, every
 * URL at least once, backoff only before going back to a URL this session already tried, and a
 * URL that refused (4xx, wrong shape) is not asked again. Setup fails only when every URL was
 * tried. The `Idempotency-Key` stays `{matchId}:collab` on every URL: a server that never saw the
 * key creates the session, one that did (a timed-out attempt that got through) answers the same.
 */

export type SessionServices = {
  questionServiceUrl?: string | undefined;
  /** One URL, or a pool whose turn and memory of failures outlive this call. */
  collabServiceUrl?: string | CollabPool | undefined;
};

export type SessionMatch = {
  difficulty: string;
  topic: string;
  users: readonly [string, string];
  /** The users' tenant; the collaboration service is told when it is not the default. */
  tenant?: string;
  /** When given, sent as `Idempotency-Key` (`{matchId}:question` / `{matchId}:collab`), so a
   * service that honours it creates one session even if a timed-out attempt did get through. */
  matchId?: string;
};

export type SetUpOptions = {
  fetch?: typeof fetch;
  /** Per attempt, response body included. Default 2000. */
  attemptTimeoutMs?: number;
  /** Attempts per service, first one included; a collaboration pool gets at least one per URL. Default 3. */
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
    const answer = await call(policy, "question", [config.questionServiceUrl], "/api/v1/questions/select", {
      body: { difficulty: match.difficulty, topic: match.topic },
      schema: questionAnswer,
      idempotencyKey: match.matchId ? `${match.matchId}:question` : undefined,
    });
    questionId = answer.id;
  }
  let collaborationSessionId: string | null = null;
  if (config.collabServiceUrl) {
    const pool = config.collabServiceUrl instanceof CollabPool ? config.collabServiceUrl : undefined;
    const answer = await call(
      policy,
      "collab",
      pool ? pool.next() : [config.collabServiceUrl as string],
      "/api/v1/collab/sessions",
      {
        body: {
          user_ids: [...match.users],
          question_id: questionId,
          ...(match.tenant && match.tenant !== DEFAULT_TENANT ? { tenant_id: match.tenant } : {}),
        },
        schema: collabAnswer,
        idempotencyKey: match.matchId ? `${match.matchId}:collab` : undefined,
      },
      pool,
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

/** Told how each attempt on a URL went (a collaboration pool's memory of failures). */
type Health = { failed(url: string): void; succeeded(url: string): void };

/**
 * Ask `urls` (each counted once) in turn, starting with the first: an attempt that fails moves on
 * to the next (a lone URL is simply asked again), until one answers, the attempts run out, or
 * every URL refused. With one URL this is the plain retry policy: `attempts` tries, backoff between them,
 * none after a refusal.
 */
async function call<T>(
  policy: Policy,
  service: SetupService,
  urls: readonly string[],
  path: string,
  request: { body: unknown; schema: z.ZodType<T>; idempotencyKey: string | undefined },
  health?: Health,
): Promise<T> {
  const headers: Record<string, string> = { "content-type": "application/json", accept: "application/json" };
  if (request.idempotencyKey) headers["idempotency-key"] = request.idempotencyKey;
  const bases = [...new Set(urls)];
  const budget = Math.max(policy.attempts, bases.length);
  const tried = new Set<string>();
  const refused = new Set<string>();
  let last: Failure | undefined;
  let made = 0;
  let backoffs = 0;
  for (let i = 0; made < budget && refused.size < bases.length; i++) {
    const base = bases[i % bases.length]!;
    if (refused.has(base)) continue;
    // Backoff lets a server recover; a server this session has not tried needs no wait.
    if (tried.has(base)) await sleep(policy.backoffMs * 2 ** backoffs++);
    tried.add(base);
    made++;
    const outcome = await attemptOnce(policy, endpoint(base, path), headers, request);
    if (outcome.ok) {
      health?.succeeded(base);
      return outcome.value;
    }
    health?.failed(base);
    last = outcome.failure;
    if (!last.retry) refused.add(base);
  }
  const final: Failure = last ?? { reason: "network", retry: false, detail: "no attempt made" };
  const detail = bases.length > 1 ? `${final.detail}; all ${bases.length} URLs tried` : final.detail;
  throw new SetupFailedError(service, final.reason, made, detail, final.status);
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

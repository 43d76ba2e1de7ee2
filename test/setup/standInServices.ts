import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import type { TestProject } from "vitest/node";

/**
 * Small stand-ins for the question and collaboration services (PeerPrep's orchestration), one
 * loopback server per behaviour, started once for the whole run:
 *
 * - good:      `POST /api/v1/questions/select` -> 200 `{id: "q-{difficulty}-{topic}"}`,
 *              `POST /api/v1/collab/sessions`  -> 201 `{session_id: "room-{user_ids joined by +}-{question_id}"}`
 * - failing:   always 500
 * - slow:      answers like `good`, but only after SLOW_ANSWER_MS
 * - flaky:     the first two calls to each endpoint get 503, then it answers like `good`
 * - rejecting: always 400
 * - malformed: 200 with a body that is not the expected shape
 * - by-topic:  like `failing` for buckets whose topic starts with `fail-`, answers after
 *              BY_TOPIC_SLOW_MS for `slow-`, else like `good`; for a Worker configured once for
 *              a whole test file (test/orchestrated/). A topic `down-{key}-…` fails (503) only
 *              under the prefix `/k/{key}`: one URL of a collaboration pool that is down
 *              (test/orchestrated/collabPoolKeys.ts)
 *
 * A base URL may carry a prefix `/k/{key}` (e.g. `http://127.0.0.1:4567/k/test-7`): calls are
 * counted, and the flaky service's failures are spent, per key, so tests stay independent and
 * can be rerun against the same servers. `GET [/k/{key}]/calls` answers what that key received:
 * `{question: n, collab: n, requests: [{endpoint, body, idempotencyKey}]}`.
 */

export const SLOW_ANSWER_MS = 3_000;
/** Slow, but inside setUpSession's 2 s attempt timeout. */
export const BY_TOPIC_SLOW_MS = 1_000;

export const STAND_IN_BEHAVIOURS = [
  "good",
  "failing",
  "slow",
  "flaky",
  "rejecting",
  "malformed",
  "by-topic",
] as const;
export type StandInBehaviour = (typeof STAND_IN_BEHAVIOURS)[number];
export type StandInServices = Record<StandInBehaviour, string>;

type Endpoint = "question" | "collab";
type Calls = {
  question: number;
  collab: number;
  requests: Array<{ endpoint: Endpoint; body: unknown; idempotencyKey: string | null }>;
};

export async function startStandIns(): Promise<{ urls: StandInServices; close(): Promise<void> }> {
  const servers: Server[] = [];
  const urls = {} as StandInServices;
  for (const behaviour of STAND_IN_BEHAVIOURS) {
    const server = createServer(handlerFor(behaviour));
    await new Promise<void>((resolve, reject) => {
      server.once("error", reject);
      server.listen(0, "127.0.0.1", () => resolve());
    });
    servers.push(server);
    urls[behaviour] = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  }
  return {
    urls,
    async close() {
      await Promise.all(
        servers.map(
          (server) =>
            new Promise<void>((resolve) => {
              server.closeAllConnections();
              server.close(() => resolve());
            }),
        ),
      );
    },
  };
}

function handlerFor(behaviour: StandInBehaviour) {
  const callsByKey = new Map<string, Calls>();
  const callsOf = (key: string): Calls => {
    let calls = callsByKey.get(key);
    if (!calls) {
      calls = { question: 0, collab: 0, requests: [] };
      callsByKey.set(key, calls);
    }
    return calls;
  };

  return async (req: IncomingMessage, res: ServerResponse) => {
    res.on("error", () => {});
    const url = new URL(req.url ?? "/", "http://stand-in");
    const prefixed = /^\/k\/([^/]+)(\/.*)$/.exec(url.pathname);
    const key = prefixed ? decodeURIComponent(prefixed[1]!) : "default";
    const path = prefixed ? prefixed[2]! : url.pathname;

    if (req.method === "GET" && path === "/calls") {
      send(res, 200, callsOf(key));
      return;
    }

    const endpoint: Endpoint | undefined =
      req.method === "POST" && path === "/api/v1/questions/select"
        ? "question"
        : req.method === "POST" && path === "/api/v1/collab/sessions"
          ? "collab"
          : undefined;
    if (!endpoint) {
      send(res, 404, { detail: "Not Found" });
      return;
    }

    // Logged on arrival, before the body: a caller that dies mid-request still shows up.
    const calls = callsOf(key);
    calls[endpoint] += 1;
    const header = req.headers["idempotency-key"];
    const logged = {
      endpoint,
      body: undefined as unknown,
      idempotencyKey: typeof header === "string" ? header : null,
    };
    calls.requests.push(logged);
    const body = await readJson(req);
    logged.body = body;

    switch (behaviour) {
      case "failing":
        send(res, 500, { detail: "Internal Server Error" });
        break;
      case "rejecting":
        send(res, 400, { detail: "Bad Request" });
        break;
      case "malformed":
        send(res, 200, { unexpected: true });
        break;
      case "flaky":
        if (calls[endpoint] <= 2) send(res, 503, { detail: "Service Unavailable" });
        else answer(res, endpoint, body);
        break;
      case "slow": {
        const timer = setTimeout(() => answer(res, endpoint, body), SLOW_ANSWER_MS);
        req.socket.once("close", () => clearTimeout(timer));
        break;
      }
      case "good":
        answer(res, endpoint, body);
        break;
      case "by-topic":
        // The collab call carries the topic inside the question id (`q-{difficulty}-{topic}`).
        if (JSON.stringify(body).includes("fail-")) send(res, 500, { detail: "Internal Server Error" });
        else if (prefixed && JSON.stringify(body).includes(`down-${key}-`)) {
          send(res, 503, { detail: "Service Unavailable" });
        } else if (JSON.stringify(body).includes("slow-")) {
          const timer = setTimeout(() => answer(res, endpoint, body), BY_TOPIC_SLOW_MS);
          req.socket.once("close", () => clearTimeout(timer));
        } else answer(res, endpoint, body);
        break;
    }
  };
}

function answer(res: ServerResponse, endpoint: Endpoint, body: unknown): void {
  const b = (body ?? {}) as Record<string, unknown>;
  if (endpoint === "question") {
    send(res, 200, { id: `q-${String(b.difficulty)}-${String(b.topic)}`, title: "Two Sum" });
    return;
  }
  const users = Array.isArray(b.user_ids) ? b.user_ids.map(String).join("+") : "nobody";
  send(res, 201, { session_id: `room-${users}-${String(b.question_id)}` });
}

function send(res: ServerResponse, status: number, body: unknown): void {
  if (res.destroyed || res.writableEnded) return;
  res.writeHead(status, { "content-type": "application/json" });
  res.end(JSON.stringify(body));
}

async function readJson(req: IncomingMessage): Promise<unknown> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  try {
    return JSON.parse(Buffer.concat(chunks).toString("utf8"));
  } catch {
    return null;
  }
}

/** Root globalSetup: start the stand-ins and `provide` their base URLs as `standInServices`. */
export default async function setup(project: TestProject) {
  const standIns = await startStandIns();
  project.provide("standInServices", standIns.urls);
  return () => standIns.close();
}

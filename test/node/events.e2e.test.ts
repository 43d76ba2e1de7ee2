import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { mintDevToken } from "../../src/auth/devToken.ts";
import { HEARTBEAT_MS } from "../../src/protocol/events.ts";
import { waitFor } from "../support/localProcesses.ts";
import { READY_TIMEOUT_MS, type Server, startServer, stopServers } from "../support/localServer.ts";
import { SseReader } from "../support/sseReader.ts";

/**
 * docs/protocol.md, "Server-Sent Events" with a real streaming client (Node's fetch reading the body as it
 * arrives) against `npm start` (wrangler dev): the join, the match confirmed over HTTP, a closed
 * stream resumed inside the grace, the heartbeat in real time, and the refusals before the stream.
 */

const SECRET = "events-test-secret-0123456789abcdef0123456789";
/** Short, so a test can see a closed stream's request cancelled when its grace runs out. */
const GRACE_SECONDS = 3;
let server: Server;

beforeAll(async () => {
  server = await startServer(SECRET, { RECONNECT_GRACE_SECONDS: String(GRACE_SECONDS) });
}, READY_TIMEOUT_MS + 10_000);

afterAll(stopServers);

let users = 0;
const newUser = (name: string) => `${name}-${process.pid}-${++users}`;
const newTopic = () => `events-${process.pid}-${++users}`;

const api = (path: string) => `http://${server.base}/api/v1/matching${path}`;
const bearer = async (userId: string) => ({ authorization: `Bearer ${await mintDevToken(SECRET, userId)}` });

/** An open stream and the way to hang up, as a client closing its EventSource would. */
type Stream = { events: SseReader; hangUp: () => void };

async function openStream(
  userId: string,
  topic: string,
  headers: Record<string, string> = {},
): Promise<Stream> {
  const hangUp = new AbortController();
  const res = await fetch(api(`/events?difficulty=easy&topic=${topic}`), {
    headers: { accept: "text/event-stream", ...(await bearer(userId)), ...headers },
    signal: hangUp.signal,
  });
  if (res.status !== 200 || !res.body) throw new Error(`stream refused: ${res.status} ${await res.text()}`);
  expect(res.headers.get("content-type")).toMatch(/^text\/event-stream/);
  return { events: new SseReader(res.body), hangUp: () => hangUp.abort() };
}

async function confirm(userId: string, matchId: string): Promise<number> {
  const res = await fetch(api("/confirm"), {
    method: "POST",
    headers: { "content-type": "application/json", ...(await bearer(userId)) },
    body: JSON.stringify({ match_id: matchId, confirmed: true }),
  });
  return res.status;
}

describe("a client without WebSockets", () => {
  it("is queued, matched, confirms over HTTP, gets match_ready, and the stream ends", async () => {
    const topic = newTopic();
    const alice = newUser("alice");
    const bob = newUser("bob");
    const a = await openStream(alice, topic);
    expect((await a.events.next("queued", 10_000)).frame).toMatchObject({ position: 1, topic });

    const b = await openStream(bob, topic);
    const found = (await a.events.next("match_found", 10_000)).frame;
    expect(found.partnerId).toBe(bob);
    await b.events.next("queued", 10_000);
    expect((await b.events.next("match_found", 10_000)).frame.matchId).toBe(found.matchId);

    expect(await confirm(alice, found.matchId)).toBe(202);
    await b.events.next("partner_confirmed", 10_000);
    expect(await confirm(bob, found.matchId)).toBe(200);
    for (const s of [a, b]) {
      expect((await s.events.next("match_ready", 10_000)).frame.matchId).toBe(found.matchId);
      await s.events.end(5_000);
    }
  });

  it("closing the stream and reconnecting inside the grace resumes the same request", async () => {
    const topic = newTopic();
    const alice = newUser("alice");
    const first = await openStream(alice, topic);
    const queued = await first.events.next("queued", 10_000);
    first.hangUp();
    await first.events.end(5_000);

    const again = await openStream(alice, topic, { "last-event-id": queued.id });
    const resumed = await again.events.next("queued", 10_000);
    expect(resumed.frame.requestId).toBe(queued.frame.requestId);
    expect(Number(resumed.id)).toBeGreaterThan(Number(queued.id));
    const left = await fetch(api(`/request/${queued.frame.requestId}`), {
      method: "DELETE",
      headers: await bearer(alice),
    });
    expect(left.status).toBe(200);
    await again.events.next("cancelled", 10_000);
    await again.events.end(5_000);
  });

  it("a closed stream is a disconnect: with no reconnect the request is cancelled after the grace", async () => {
    const alice = newUser("alice");
    const s = await openStream(alice, newTopic());
    const queued = await s.events.next("queued", 10_000);
    s.hangUp();
    const statusNow = async () => {
      const res = await fetch(api(`/request/${queued.frame.requestId}`), { headers: await bearer(alice) });
      return ((await res.json()) as { status: string }).status;
    };
    expect(await statusNow()).toBe("PENDING");
    await waitFor(
      "the request's cancellation",
      async () => ((await statusNow()) === "CANCELLED" ? true : undefined),
      {
        // The Worker learns of the hang-up only when it writes (heartbeats), locally within two.
        timeoutMs: 2 * HEARTBEAT_MS + GRACE_SECONDS * 1000 + 5_000,
      },
    );
  });

  it("hears a comment heartbeat at least every 25 s while nothing else happens", async () => {
    const s = await openStream(newUser("quiet"), newTopic());
    await s.events.next("queued", 10_000);
    let since = performance.now();
    for (const n of [1, 2]) {
      expect(await s.events.comment(n, 25_000)).toBe("heartbeat");
      expect(performance.now() - since).toBeLessThan(25_000);
      since = performance.now();
    }
    s.hangUp();
  }, 60_000);

  it("is refused with HTTP errors before any stream: 401, 400, 409 already_queued", async () => {
    const refusal = async (res: Response) => ({
      status: res.status,
      code: ((await res.json()) as { error: { code: string } }).error.code,
    });
    const topic = newTopic();
    expect(await refusal(await fetch(api(`/events?difficulty=easy&topic=${topic}`)))).toEqual({
      status: 401,
      code: "unauthorized",
    });
    const u = newUser("u");
    const badDifficulty = await fetch(api(`/events?difficulty=trivial&topic=${topic}`), {
      headers: await bearer(u),
    });
    expect(await refusal(badDifficulty)).toEqual({ status: 400, code: "invalid_parameter" });

    const waiting = await openStream(u, topic);
    await waiting.events.next("queued", 10_000);
    const elsewhere = await fetch(api(`/events?difficulty=hard&topic=${topic}`), {
      headers: await bearer(u),
    });
    expect(await refusal(elsewhere)).toEqual({ status: 409, code: "already_queued" });
    // The refused stream changed nothing: the first one still carries the request.
    expect(waiting.events.ended).toBe(false);
    waiting.hangUp();
  });
});

import { performance } from "node:perf_hooks";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import WebSocket from "ws";
import { mintDevToken } from "../../src/auth/devToken.ts";
import { MatchClient } from "../../src/client/matchClient.ts";
import { waitFor } from "../support/localProcesses.ts";
import { READY_TIMEOUT_MS, type Server, startServer, stopServers } from "../support/localServer.ts";

/**
 * Every close the server starts reaches the client's `close` event at once, over real
 * sockets against `npm start` (wrangler dev): the SDK for the closes of a live session (4009,
 * 4008, 4001, 1000), a bare `ws` client for the refusals (4409, 4029, 1013), which need no help
 * from the client. "At once" is within 500 ms of the frame before the close (the close frame
 * itself where nothing comes before it). Without the workaround these take 10-21 s.
 */

const SECRET = "closes-test-secret-0123456789abcdef0123456789";
const PROMPT_MS = 500;
/**
 * The 4001 close is measured from the token's expiry, so it also holds the alarm's own delay,
 * which on two shared cores under a full test run reached 553 ms once. The fault this guards
 * against held closes back ~10 s; 2 s still tells the two apart.
 */
const ALARM_PROMPT_MS = 2_000;

let main: Server;
let maintenance: Server;

beforeAll(
  async () => {
    // One after the other: two wrangler instances starting at once can race for the same port.
    main = await startServer(SECRET, { MATCH_TIMEOUT_SECONDS: "3" });
    maintenance = await startServer(SECRET, { MAINTENANCE: "1" });
  },
  2 * READY_TIMEOUT_MS + 10_000,
);

afterAll(stopServers);

let users = 0;
const newUser = (name: string) => `${name}-${process.pid}-${++users}`;
const newTopic = () => `closes-${process.pid}-${++users}`;

/** An SDK session whose events are kept with the time they arrived. */
function session(server: Server, userId: string, ttlSeconds = 3600) {
  const client = new MatchClient({
    host: server.base,
    getToken: () => mintDevToken(SECRET, userId, { ttlSeconds }),
  });
  const events: Array<{ type: string; at: number }> = [];
  let resolveClosed: (c: { code: number; at: number }) => void;
  const closed = new Promise<{ code: number; at: number }>((r) => {
    resolveClosed = r;
  });
  for (const type of [
    "open",
    "queued",
    "match_found",
    "partner_confirmed",
    "match_ready",
    "cancelled",
    "timeout",
    "error",
  ] as const) {
    client.on(type, () => events.push({ type, at: performance.now() }));
  }
  client.on("closed", (e) => resolveClosed({ code: e.code, at: performance.now() }));
  const next = (type: string, timeoutMs = 10_000) =>
    waitFor(`a ${type} event`, async () => events.find((e) => e.type === type), { timeoutMs, intervalMs: 5 });
  return { client, events, closed, next };
}

/** A bare `ws` client that says nothing: its first frame and its close, with their times. */
async function bareJoin(server: Server, room: string, userId: string) {
  const ws = new WebSocket(
    `ws://${server.base}/parties/bucket/${room}?token=${await mintDevToken(SECRET, userId)}`,
  );
  const frames: Array<{ frame: { type: string; code?: string }; at: number }> = [];
  ws.on("message", (data) => frames.push({ frame: JSON.parse(String(data)), at: performance.now() }));
  const closed = new Promise<{ code: number; at: number }>((resolve) =>
    ws.on("close", (code) => resolve({ code, at: performance.now() })),
  );
  return { ws, frames, closed };
}

describe("closes the server starts reach the client at once", () => {
  it("4009: a second tab takes over and the first tab's close arrives with the takeover", async () => {
    const user = newUser("tabs");
    const topic = newTopic();
    const first = session(main, user);
    first.client.join({ difficulty: "easy", topic });
    await first.next("queued");
    const second = session(main, user);
    second.client.join({ difficulty: "easy", topic });
    const opened = await second.next("open");
    const closed = await first.closed;
    expect(closed.code).toBe(4009);
    // The old tab is closed in the new tab's connect, just before the new tab's upgrade answer.
    expect(Math.abs(closed.at - opened.at)).toBeLessThan(PROMPT_MS);
    second.client.leave();
    await second.closed;
  });

  it("4008: a queue timeout from the alarm", async () => {
    const s = session(main, newUser("lonely"));
    s.client.join({ difficulty: "hard", topic: newTopic() });
    await s.next("queued");
    const timeout = await s.next("timeout", 10_000);
    const closed = await s.closed;
    expect(closed.code).toBe(4008);
    expect(closed.at - timeout.at).toBeLessThan(PROMPT_MS);
  });

  it("4001: the token expires on an open socket (closed by the alarm)", async () => {
    const ttlSeconds = 3;
    const issued = Date.now();
    const s = session(main, newUser("short"), ttlSeconds);
    s.client.join({ difficulty: "medium", topic: newTopic() });
    await s.next("queued");
    const closed = await s.closed;
    expect(closed.code).toBe(4001);
    // The token's `exp` is whole seconds: the close is due at most `ttlSeconds` after issue.
    const dueAt = performance.now() - (Date.now() - (Math.floor(issued / 1000) + ttlSeconds) * 1000);
    expect(closed.at - dueAt).toBeLessThan(ALARM_PROMPT_MS);
  });

  it("1000 after match_ready and after cancelled", async () => {
    const topic = newTopic();
    const a = session(main, newUser("a"));
    const b = session(main, newUser("b"));
    a.client.on("match_found", () => a.client.confirm());
    b.client.on("match_found", () => b.client.confirm());
    a.client.join({ difficulty: "easy", topic });
    b.client.join({ difficulty: "easy", topic });
    for (const s of [a, b]) {
      const ready = await s.next("match_ready");
      const closed = await s.closed;
      expect(closed.code).toBe(1000);
      expect(closed.at - ready.at).toBeLessThan(PROMPT_MS);
    }
    const c = session(main, newUser("c"));
    c.client.join({ difficulty: "easy", topic: newTopic() });
    await c.next("queued");
    c.client.leave();
    const cancelled = await c.next("cancelled");
    const closed = await c.closed;
    expect(closed.code).toBe(1000);
    expect(closed.at - cancelled.at).toBeLessThan(PROMPT_MS);
  });

  it("4409: a live request in another bucket, even for a client that never says anything", async () => {
    const user = newUser("two");
    const topic = newTopic();
    // The live request is held by a proposed match (a 20 s confirm window), not by waiting: this
    // server's queue timeout is 3 s, which a cold join to another bucket can outlast under a full
    // test run (the request then timed out first, and the join was let in).
    const [holder, partner] = await Promise.all([
      bareJoin(main, `easy.${topic}`, user),
      bareJoin(main, `easy.${topic}`, newUser("partner")),
    ]);
    const matched = async () => holder.frames.find((f) => f.frame.type === "match_found");
    await waitFor("match_found", matched, { timeoutMs: 10_000 });
    const other = await bareJoin(main, `hard.${topic}`, user);
    const closed = await other.closed;
    expect(closed.code).toBe(4409);
    expect(other.frames[0]?.frame).toMatchObject({ type: "error", code: "already_queued" });
    expect(closed.at - other.frames[0]!.at).toBeLessThan(PROMPT_MS);
    holder.ws.close();
    partner.ws.close();
  });

  it("4029: too many joins", async () => {
    const user = newUser("eager");
    let last: Awaited<ReturnType<typeof bareJoin>> | undefined;
    let closed = { code: 0, at: 0 };
    for (let i = 0; i < 25 && closed.code !== 4029; i++) {
      last = await bareJoin(main, `easy.${newTopic()}`, user);
      const first = await waitFor("a first frame", async () => last!.frames[0], { timeoutMs: 10_000 });
      if (first.frame.type === "error") closed = await last.closed;
      else {
        last.ws.send(JSON.stringify({ type: "leave" }));
        await last.closed;
      }
    }
    expect(closed.code).toBe(4029);
    expect(last!.frames[0]?.frame).toMatchObject({ type: "error", code: "rate_limited" });
    expect(closed.at - last!.frames[0]!.at).toBeLessThan(PROMPT_MS);
  });

  it("1013: maintenance", async () => {
    const s = await bareJoin(maintenance, `easy.${newTopic()}`, newUser("late"));
    const closed = await s.closed;
    expect(closed.code).toBe(1013);
    expect(s.frames[0]?.frame).toMatchObject({ type: "error", code: "maintenance" });
    expect(closed.at - s.frames[0]!.at).toBeLessThan(PROMPT_MS);
  });
});

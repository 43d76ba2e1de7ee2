import type { AddressInfo } from "node:net";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { WebSocketServer, type WebSocket as WsSocket } from "ws";
import { MatchClient, type MatchClientEvent, type MatchClientEvents } from "../../src/client/index.ts";
import type { ServerFrame } from "../../src/protocol/frames.ts";

/**
 * The SDK against a small fake bucket server (`ws`) that speaks the protocol: typed events,
 * the frames the SDK sends, token refresh on reconnect, and no reconnect after terminal outcomes.
 */

/** `first` is the frame the SDK sends on open (a ping, see matchClient.ts); `received`, the rest. */
type Connection = { socket: WsSocket; url: URL; first: unknown; received: unknown[] };

class FakeBucketServer {
  readonly connections: Connection[] = [];
  #server!: WebSocketServer;
  #waiters: Array<() => void> = [];

  async start(): Promise<string> {
    this.#server = new WebSocketServer({ host: "127.0.0.1", port: 0 });
    await new Promise<void>((resolve) => this.#server.once("listening", () => resolve()));
    this.#server.on("connection", (socket, request) => {
      const connection: Connection = {
        socket,
        url: new URL(request.url ?? "/", "http://x"),
        first: undefined,
        received: [],
      };
      socket.on("message", (data) => {
        const frame = JSON.parse(String(data));
        if (connection.first === undefined) connection.first = frame;
        else connection.received.push(frame);
        this.#wake();
      });
      this.connections.push(connection);
      this.#wake();
    });
    return `127.0.0.1:${(this.#server.address() as AddressInfo).port}`;
  }

  #wake() {
    for (const w of this.#waiters.splice(0)) w();
  }

  async until<T>(check: () => T | undefined, what: string, timeoutMs = 3000): Promise<T> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const value = check();
      if (value !== undefined) return value;
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`timed out waiting for ${what}`);
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, Math.min(left, 50));
        this.#waiters.push(() => {
          clearTimeout(t);
          resolve();
        });
      });
    }
  }

  connection(n: number): Promise<Connection> {
    return this.until(() => this.connections[n], `connection #${n + 1}`);
  }

  async stop(): Promise<void> {
    for (const c of this.connections) c.socket.terminate();
    await new Promise<void>((resolve) => this.#server.close(() => resolve()));
  }
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const send = (c: Connection, frame: ServerFrame) => c.socket.send(JSON.stringify(frame));
const MATCH_ID = "mat_0123456789abcdef";
const queued = (position = 1): ServerFrame => ({
  type: "queued",
  requestId: "req_0123456789abcdef",
  difficulty: "easy",
  topic: "arrays",
  position,
  waiting: 1,
  estimatedWaitMs: null,
  expiresAt: new Date(Date.now() + 60_000).toISOString(),
  buckets: ["easy.arrays"],
});
const matchFound: ServerFrame = {
  type: "match_found",
  matchId: MATCH_ID,
  partnerId: "bob",
  role: "interviewer",
  difficulty: "easy",
  topic: "arrays",
  confirmBy: new Date(Date.now() + 20_000).toISOString(),
  room: "easy.arrays",
};

let server: FakeBucketServer;
let host: string;
let tokens: number;
const clients: MatchClient[] = [];

function newClient(): MatchClient {
  const client = new MatchClient({
    host,
    getToken: async () => `token-${++tokens}`,
    minReconnectionDelay: 50,
    maxReconnectionDelay: 100,
  });
  clients.push(client);
  return client;
}

/** Collects one event type in order. */
function collect<K extends MatchClientEvent>(client: MatchClient, type: K): Array<MatchClientEvents[K]> {
  const events: Array<MatchClientEvents[K]> = [];
  client.on(type, (e) => events.push(e));
  return events;
}

beforeEach(async () => {
  server = new FakeBucketServer();
  host = await server.start();
  tokens = 0;
});

afterEach(async () => {
  for (const c of clients.splice(0)) c.close();
  await server.stop();
});

describe("MatchClient", () => {
  it("opens /parties/bucket/{room} with a token, canonicalising the bucket", async () => {
    const client = newClient();
    expect(client.join({ difficulty: "Easy", topic: "Dynamic Programming" })).toEqual({
      difficulty: "easy",
      topic: "dynamic-programming",
    });
    const c = await server.connection(0);
    expect(c.url.pathname).toBe("/parties/bucket/easy.dynamic-programming");
    expect(c.url.searchParams.get("token")).toBe("token-1");
  });

  it("pings at once on every (re)connect, before any other frame", async () => {
    const client = newClient();
    client.join({ difficulty: "easy", topic: "arrays" });
    const c = await server.connection(0);
    await server.until(() => c.first, "the first frame");
    expect(c.first).toEqual({ type: "ping" });
    c.socket.terminate();
    const again = await server.connection(1);
    await server.until(() => again.first, "the first frame after reconnecting");
    expect(again.first).toEqual({ type: "ping" });
  });

  it("rejects an invalid bucket or role before connecting", () => {
    expect(() => newClient().join({ difficulty: "extreme", topic: "arrays" })).toThrow();
    expect(() => newClient().join({ difficulty: "easy", topic: "a/b" })).toThrow();
    // @ts-expect-error: not a role, as a plain-JS caller might pass
    expect(() => newClient().join({ difficulty: "easy", topic: "arrays", role: "boss" })).toThrow();
  });

  it("asks for a role with `&role=` (and sends none for `either`)", async () => {
    newClient().join({ difficulty: "easy", topic: "arrays", role: "interviewee" });
    expect((await server.connection(0)).url.searchParams.get("role")).toBe("interviewee");
    newClient().join({ difficulty: "easy", topic: "arrays" });
    expect((await server.connection(1)).url.searchParams.has("role")).toBe(false);
  });

  it("asks for more buckets with `&also=` (canonical, home and duplicates dropped) and `&widen=1`", async () => {
    newClient().join({
      difficulty: "easy",
      topic: "arrays",
      also: [
        { difficulty: "Medium", topic: "Dynamic Programming" },
        { difficulty: "easy", topic: "arrays" },
        { difficulty: "medium", topic: "dynamic programming" },
      ],
      widen: true,
    });
    const url = (await server.connection(0)).url;
    expect(url.searchParams.get("also")).toBe("medium.dynamic-programming");
    expect(url.searchParams.get("widen")).toBe("1");
    expect(() =>
      newClient().join({
        difficulty: "easy",
        topic: "arrays",
        also: ["a", "b", "c", "d"].map((topic) => ({ difficulty: "easy", topic })),
      }),
    ).toThrow(/at most 3/);
  });

  it("emits typed frames, and confirm/decline carry the current match id", async () => {
    const client = newClient();
    const seen: string[] = [];
    client.on("queued", (f) => seen.push(`queued ${f.position}`));
    client.on("match_found", (f) => seen.push(`found ${f.partnerId}`));
    client.on("partner_confirmed", (f) => seen.push(`partner ${f.matchId}`));
    const invalid = collect(client, "invalid_frame");
    client.join({ difficulty: "easy", topic: "arrays" });
    const c = await server.connection(0);
    expect(() => client.confirm()).toThrow(/no match/);
    send(c, queued(2));
    c.socket.send(JSON.stringify({ type: "queued", position: "first" }));
    send(c, matchFound);
    send(c, { type: "partner_confirmed", matchId: MATCH_ID });
    await server.until(() => (seen.length === 3 ? true : undefined), "three events");
    expect(seen).toEqual(["queued 2", "found bob", `partner ${MATCH_ID}`]);
    expect(invalid).toHaveLength(1);
    expect(client.matchId).toBe(MATCH_ID);
    client.confirm();
    client.status();
    await server.until(() => (c.received.length === 2 ? true : undefined), "two frames");
    expect(c.received).toEqual([{ type: "confirm", matchId: MATCH_ID }, { type: "status" }]);
  });

  it("reconnects with a fresh token after a dropped connection", async () => {
    const client = newClient();
    const opens = collect(client, "open");
    const closes = collect(client, "closed");
    client.join({ difficulty: "easy", topic: "arrays" });
    const first = await server.connection(0);
    await server.until(() => opens[0], "open");
    first.socket.terminate();
    const second = await server.connection(1);
    expect(second.url.searchParams.get("token")).toBe("token-2");
    await server.until(() => opens[1], "second open");
    expect(opens.map((o) => o.resumed)).toEqual([false, true]);
    expect(closes[0]?.willReconnect).toBe(true);
    expect(client.active).toBe(true);
  });

  it("names the request it saw last on every reconnect (resume=), and tells a replayed outcome once", async () => {
    const client = newClient();
    const ready = collect(client, "match_ready");
    const closes = collect(client, "closed");
    client.join({ difficulty: "easy", topic: "arrays" });
    const first = await server.connection(0);
    expect(first.url.searchParams.has("resume")).toBe(false);
    send(first, queued());
    await server.until(() => (client.requestId ? true : undefined), "the request id");
    const frame: ServerFrame = {
      type: "match_ready",
      matchId: MATCH_ID,
      partnerId: "bob",
      role: "interviewer",
      difficulty: "easy",
      topic: "arrays",
      questionId: null,
      collaborationSessionId: null,
    };
    // The outcome crossed the drop: the server sent it, the client never got it.
    first.socket.terminate();
    const second = await server.connection(1);
    expect(second.url.searchParams.get("resume")).toBe("req_0123456789abcdef");
    send(second, frame);
    send(second, frame);
    second.socket.close(1000, "match ready");
    await server.until(() => closes.find((c) => !c.willReconnect), "the final close");
    expect(ready).toEqual([frame]);
  });

  it("does not reconnect after 4404 (resume= named no request of the caller's)", async () => {
    const client = newClient();
    const closes = collect(client, "closed");
    client.join({ difficulty: "easy", topic: "arrays" });
    const first = await server.connection(0);
    first.socket.close(4404, "request_not_found");
    await server.until(() => closes[0], "close");
    expect(closes[0]?.willReconnect).toBe(false);
    await sleep(300);
    expect(server.connections).toHaveLength(1);
  });

  it.each([
    [
      "match_ready",
      {
        type: "match_ready",
        matchId: MATCH_ID,
        partnerId: "bob",
        role: "interviewer",
        difficulty: "easy",
        topic: "arrays",
        questionId: null,
        collaborationSessionId: null,
      },
      1000,
    ],
    ["timeout", { type: "timeout", requestId: "req_0123456789abcdef" }, 4008],
    ["cancelled", { type: "cancelled", requestId: "req_0123456789abcdef" }, 1000],
    ["match_cancelled declined", { type: "match_cancelled", matchId: MATCH_ID, reason: "declined" }, 1000],
  ] satisfies Array<[string, ServerFrame, number]>)(
    "does not reconnect after %s",
    async (_name, frame, code) => {
      const client = newClient();
      const closes = collect(client, "closed");
      client.join({ difficulty: "easy", topic: "arrays" });
      const c = await server.connection(0);
      send(c, frame);
      c.socket.close(code, "done");
      await server.until(() => closes[0], "close");
      expect(closes[0]).toMatchObject({ code, willReconnect: false });
      await sleep(400);
      expect(server.connections).toHaveLength(1);
      expect(client.active).toBe(false);
    },
  );

  it("reconnects after 1001 (the server going away, e.g. a deploy)", async () => {
    const client = newClient();
    const closes = collect(client, "closed");
    client.join({ difficulty: "easy", topic: "arrays" });
    const c = await server.connection(0);
    c.socket.close(1001, "going away");
    await server.connection(1);
    expect(closes[0]).toMatchObject({ code: 1001, willReconnect: true });
  });

  it.each([4001, 4009, 4029, 4409, 1013])("does not reconnect after close code %i", async (code) => {
    const client = newClient();
    const closes = collect(client, "closed");
    client.join({ difficulty: "easy", topic: "arrays" });
    const c = await server.connection(0);
    c.socket.close(code, "refused");
    await server.until(() => closes[0], "close");
    expect(closes[0]).toMatchObject({ code, willReconnect: false });
    await sleep(400);
    expect(server.connections).toHaveLength(1);
  });

  it("keeps the partner's session (and reconnects) on partner_declined; own decline ends it", async () => {
    const client = newClient();
    const closes = collect(client, "closed");
    client.join({ difficulty: "easy", topic: "arrays" });
    const c = await server.connection(0);
    send(c, matchFound);
    send(c, { type: "match_cancelled", matchId: MATCH_ID, reason: "partner_declined" });
    c.socket.close(1011, "restart");
    const again = await server.connection(1);
    expect(closes[0]?.willReconnect).toBe(true);
    send(again, matchFound);
    await server.until(() => client.matchId, "match id");
    client.decline();
    await server.until(() => (again.received.length ? true : undefined), "decline frame");
    expect(again.received).toEqual([{ type: "decline", matchId: MATCH_ID }]);
    // Even without the server's answer, the socket closing now ends the session.
    again.socket.close(1011, "bye");
    await server.until(() => closes[1], "second close");
    expect(closes[1]?.willReconnect).toBe(false);
    await sleep(400);
    expect(server.connections).toHaveLength(2);
  });
});

import { createServer, type IncomingMessage } from "node:http";
import type { AddressInfo } from "node:net";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { WebSocketServer, type WebSocket as WsSocket } from "ws";
import {
  type ChallengeView,
  UserChannel,
  type UserChannelEvents,
  type UserFrame,
} from "../../src/client/index.ts";
import { challengeAccepted } from "../../src/protocol/challenges.ts";

/** The SDK's `UserChannel` against a small fake channel server (`ws`): URL, typed events, reconnects. */

type Connection = { socket: WsSocket; url: URL; received: unknown[] };

let wss: WebSocketServer;
let host: string;
let connections: Connection[];
let tokens: number;
const channels: UserChannel[] = [];

async function until<T>(check: () => T | undefined, what: string, timeoutMs = 3000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = check();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

beforeEach(async () => {
  connections = [];
  tokens = 0;
  const http = createServer();
  wss = new WebSocketServer({ server: http });
  wss.on("connection", (socket, request: IncomingMessage) => {
    const c: Connection = { socket, url: new URL(request.url ?? "/", "http://x"), received: [] };
    socket.on("message", (data) => c.received.push(JSON.parse(String(data))));
    connections.push(c);
  });
  await new Promise<void>((resolve) => http.listen(0, "127.0.0.1", resolve));
  host = `127.0.0.1:${(http.address() as AddressInfo).port}`;
});

afterEach(async () => {
  for (const ch of channels.splice(0)) ch.close();
  for (const c of connections) c.socket.terminate();
  await new Promise<void>((resolve) => wss.close(() => resolve()));
});

function open(userId = "alice"): UserChannel {
  const channel = new UserChannel({
    host,
    userId,
    getToken: async () => `token-${++tokens}`,
    minReconnectionDelay: 50,
    maxReconnectionDelay: 100,
  });
  channels.push(channel);
  channel.open();
  return channel;
}

const challenge: ChallengeView = {
  id: "chl_0123456789abcdef",
  challengerId: "bob",
  opponentId: "alice",
  difficulty: "easy",
  topic: "arrays",
  role: "either",
  status: "PENDING",
  createdAt: new Date().toISOString(),
  expiresAt: new Date(Date.now() + 120_000).toISOString(),
  matchId: null,
};

describe("UserChannel", () => {
  it("opens /parties/user/{userId} with a token, and pings first", async () => {
    open("alice");
    const c = await until(() => connections[0], "a connection");
    expect(c.url.pathname).toBe("/parties/user/alice");
    expect(c.url.searchParams.get("token")).toBe("token-1");
    expect(await until(() => c.received[0], "the first frame")).toEqual({ type: "ping" });
  });

  it("emits each frame as its own typed event; anything else is an invalid_frame", async () => {
    const channel = open();
    const received: Array<UserChannelEvents["challenge_received"]> = [];
    const accepted: Array<UserChannelEvents["challenge_accepted"]> = [];
    const invalid: Array<UserChannelEvents["invalid_frame"]> = [];
    channel.on("challenge_received", (f) => received.push(f));
    channel.on("challenge_accepted", (f) => accepted.push(f));
    channel.on("invalid_frame", (f) => invalid.push(f));
    const c = await until(() => connections[0], "a connection");
    const send = (f: UserFrame | object) => c.socket.send(JSON.stringify(f));
    send({ type: "challenge_received", challenge });
    send({ type: "challenge_received", challenge: { ...challenge, status: "MAYBE" } });
    send(
      challengeAccepted(
        { ...challenge, status: "ACCEPTED", matchId: "mat_0123456789abcdef" },
        {
          matchId: "mat_0123456789abcdef",
          partnerId: "bob",
          difficulty: "easy",
          topic: "arrays",
          role: "interviewee",
          questionId: null,
          collaborationSessionId: null,
        },
      ),
    );
    await until(() => accepted[0], "challenge_accepted");
    expect(received).toEqual([{ type: "challenge_received", challenge }]);
    expect(accepted[0]).toMatchObject({ partnerId: "bob", match: { partnerId: "bob" } });
    expect(invalid).toHaveLength(1);
  });

  it("reconnects with a fresh token after a drop, and not after a refusal", async () => {
    const channel = open();
    const opens: boolean[] = [];
    channel.on("open", (e) => opens.push(e.resumed));
    (await until(() => connections[0], "a connection")).socket.terminate();
    const again = await until(() => connections[1], "a reconnect");
    expect(again.url.searchParams.get("token")).toBe("token-2");
    await until(() => (opens.length >= 1 ? true : undefined), "open");
    const closed: Array<UserChannelEvents["closed"]> = [];
    channel.on("closed", (e) => closed.push(e));
    again.socket.close(4003, "forbidden");
    await until(() => closed[0], "closed");
    expect(closed[0]).toMatchObject({ code: 4003, willReconnect: false });
    await new Promise((r) => setTimeout(r, 300));
    expect(connections).toHaveLength(2);
    expect(channel.active).toBe(false);
  });
});

import { env, runDurableObjectAlarm, SELF } from "cloudflare:test";
import { expect } from "vitest";
import { mintDevToken } from "../../src/auth/devToken.ts";
import { type ServerFrame, type ServerFrameOf, serverFrameSchema } from "../../src/protocol/frames.ts";
import { Arrivals } from "../support/arrivals.ts";
import { TEST_JWT_SECRET } from "../testSecret.ts";

/** A fresh bucket per test, so tests never share an actor (workers-sdk's advice). */
export function uniqueRoom(difficulty = "easy"): string {
  return `${difficulty}.t-${crypto.randomUUID().slice(0, 12)}`;
}

/**
 * Users are scoped to their test's room: the user registry rightly refuses one user two live
 * requests, so tests must not share user ids.
 */
export function userIn(room: string, name: string): string {
  return `${name}-${room.slice(room.indexOf(".") + 1).toLowerCase()}`;
}

export function tokenFor(userId: string, options?: Parameters<typeof mintDevToken>[2]): Promise<string> {
  return mintDevToken(TEST_JWT_SECRET, userId, options);
}

/**
 * A test's view of one WebSocket: frames queue up as they arrive (each validated against its
 * protocol's shared schema) and are taken with `next`, which always has a timeout.
 */
export class FrameSocket<F extends { type: string }> {
  readonly frames: F[] = [];
  closeCode: number | null = null;
  readonly #arrivals = new Arrivals();

  readonly ws: WebSocket;

  constructor(ws: WebSocket, parse: (json: unknown) => F) {
    this.ws = ws;
    ws.addEventListener("message", (e) => {
      this.frames.push(parse(JSON.parse(String(e.data))));
      this.#arrivals.arrived();
    });
    ws.addEventListener("close", (e) => {
      this.closeCode = e.code;
      this.#arrivals.arrived();
    });
  }

  protected until<T>(check: () => T | undefined, what: string, timeoutMs: number): Promise<T> {
    return this.#arrivals.until(check, what, timeoutMs, () => this.frames);
  }

  /** The next frame, which must be of `type`. */
  async next<T extends F["type"]>(type: T, timeoutMs = 3000): Promise<Extract<F, { type: T }>> {
    const frame = await this.until(() => this.frames.shift(), `a ${type} frame`, timeoutMs);
    if (frame.type !== type) throw new Error(`expected ${type}, got ${JSON.stringify(frame)}`);
    return frame as Extract<F, { type: T }>;
  }

  async closed(timeoutMs = 3000): Promise<number> {
    return this.until(() => this.closeCode ?? undefined, "close", timeoutMs);
  }

  /** Nothing arrives within a short window (for "changes nothing" checks). */
  async quiet(ms = 100): Promise<void> {
    await new Promise((r) => setTimeout(r, ms));
    if (this.frames.length > 0) throw new Error(`expected silence, got ${JSON.stringify(this.frames)}`);
  }

  send(frame: unknown): void {
    this.ws.send(typeof frame === "string" ? frame : JSON.stringify(frame));
  }

  close(code = 1000): void {
    this.ws.close(code, "client closing");
  }
}

/** A bucket socket's view (frames of `serverFrameSchema`). */
export class TestSocket extends FrameSocket<ServerFrame> {
  constructor(ws: WebSocket) {
    super(ws, (json) => serverFrameSchema.parse(json));
  }

  override next<T extends ServerFrame["type"]>(type: T, timeoutMs = 3000): Promise<ServerFrameOf<T>> {
    return super.next(type, timeoutMs);
  }
}

/** The bucket socket's upgrade as `userId`, with extra query (`&also=…`, `&resume=…`). */
export async function upgrade(room: string, userId: string, query = ""): Promise<Response> {
  const token = await tokenFor(userId);
  return SELF.fetch(`https://matcher.test/parties/bucket/${room}?token=${token}${query}`, {
    headers: { Upgrade: "websocket" },
  });
}

export async function openSocket(room: string, name: string): Promise<TestSocket> {
  const res = await upgrade(room, userIn(room, name));
  const ws = res.webSocket;
  if (!ws) throw new Error(`upgrade refused: ${res.status} ${await res.text()}`);
  ws.accept();
  return new TestSocket(ws);
}

/**
 * Move the clock the actor reads (tests and Durable Objects share one isolate here), then run
 * the actor's alarm as the runtime would. Restore with `vi.useRealTimers()` after each test.
 */
export async function advanceAndRunAlarm(
  room: string,
  ms: number,
  vi: { useFakeTimers(o: { toFake: Array<"Date"> }): unknown; setSystemTime(t: number): unknown },
): Promise<boolean> {
  const base = Date.now();
  vi.useFakeTimers({ toFake: ["Date"] });
  vi.setSystemTime(base + ms);
  return runDurableObjectAlarm(bucketStub(room));
}

export function bucketStub(room: string) {
  return env.Bucket.get(env.Bucket.idFromName(room));
}

/** Join and read the `queued` frame every join starts with. */
export async function join(room: string, userId: string) {
  const socket = await openSocket(room, userId);
  const queued = await socket.next("queued");
  return { socket, queued };
}

/** Two users join in turn and are matched; returns both sockets and the match id. */
export async function matchedPair(room: string, a = "alice", b = "bob") {
  const first = await join(room, a);
  const second = await join(room, b);
  const fa = await first.socket.next("match_found");
  const fb = await second.socket.next("match_found");
  expect(fa.matchId).toBe(fb.matchId);
  return { a: first.socket, b: second.socket, matchId: fa.matchId, requestA: first.queued.requestId };
}

/** Two users matched, then both confirm and get `match_ready`. */
export async function confirmedPair(room: string, a = "alice", b = "bob") {
  const pair = await matchedPair(room, a, b);
  pair.a.send({ type: "confirm", matchId: pair.matchId });
  await pair.b.next("partner_confirmed");
  pair.b.send({ type: "confirm", matchId: pair.matchId });
  await pair.a.next("match_ready");
  await pair.b.next("match_ready");
  return pair;
}

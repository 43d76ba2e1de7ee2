import WebSocket from "ws";
import { mintDevToken } from "../../src/auth/devToken.ts";
import { TERMINAL_CLOSE_CODES } from "../../src/client/matchClient.ts";
import { type ServerFrame, serverFrameSchema } from "../../src/protocol/frames.ts";

/**
 * One user's socket session as the SDK runs it, with everything it saw kept for checking: joins
 * its home bucket (waiting in the `also` rooms too), confirms whatever match it is offered,
 * reconnects about every second while its session is not over, and sends `resume=<the last
 * request id it saw>` on every reconnect (CONTRACT, "every outcome reaches its user"). It
 * leaves the queue when told to (`leave`).
 */

export type Seen = { frame: ServerFrame; connection: number; at: number };
export type Closed = { code: number; connection: number; at: number };

/**
 * Close codes after which the SDK does not reconnect, and 4404: a `resume` of a request the
 * service does not know (CONTRACT, "every outcome reaches its user").
 */
const FINAL_CLOSES: ReadonlySet<number> = new Set([...TERMINAL_CLOSE_CODES, 4404]);

/** Frames after which the session is over for this user. */
export function endsSession(frame: ServerFrame): boolean {
  if (frame.type === "match_ready" || frame.type === "timeout" || frame.type === "cancelled") return true;
  return (
    frame.type === "match_cancelled" && (frame.reason === "declined" || frame.reason === "confirm_timeout")
  );
}

export type ReconnectingUserOptions = {
  /** `127.0.0.1:port`. */
  host: string;
  secret: string;
  userId: string;
  home: string;
  also: string[];
  reconnectMs?: number;
};

export class ReconnectingUser {
  readonly userId: string;
  readonly home: string;
  readonly also: string[];
  readonly seen: Seen[] = [];
  readonly closes: Closed[] = [];
  /** Connects made (opened or not); the first is 1. */
  connects = 0;
  /** The resume ids sent, one per reconnect that had one. */
  readonly resumesSent: string[] = [];
  readonly #options: Required<ReconnectingUserOptions>;
  #socket: WebSocket | undefined;
  #retry: ReturnType<typeof setTimeout> | undefined;
  #stopped = false;
  #leaving = false;

  constructor(options: ReconnectingUserOptions) {
    this.#options = { reconnectMs: 1_000, ...options };
    this.userId = options.userId;
    this.home = options.home;
    this.also = options.also;
  }

  /** The frame that ended the user's session (`match_ready`, `timeout`, ...), once heard. */
  get outcome(): ServerFrame | undefined {
    return this.seen.find((s) => endsSession(s.frame))?.frame;
  }

  /** Whether the SDK would stop here: the session ended, or a close that reconnecting cannot help. */
  get done(): boolean {
    return this.outcome !== undefined || this.closes.some((c) => FINAL_CLOSES.has(c.code));
  }

  /** The last request id the user was told of, which a reconnect resumes. */
  get lastRequestId(): string | undefined {
    for (let i = this.seen.length - 1; i >= 0; i--) {
      const frame = this.seen[i]!.frame;
      if ("requestId" in frame) return frame.requestId;
    }
    return undefined;
  }

  start(): void {
    void this.#connect();
  }

  /** Leave the queue (`leave`), now if the socket is open, else as soon as a reconnect opens. */
  leave(): void {
    this.#leaving = true;
    if (this.#socket?.readyState === WebSocket.OPEN) this.#socket.send(JSON.stringify({ type: "leave" }));
  }

  /** Stop reconnecting and drop the socket without a word (no `leave`). */
  stop(): void {
    this.#stopped = true;
    clearTimeout(this.#retry);
    this.#socket?.terminate();
  }

  async #connect(): Promise<void> {
    if (this.#stopped) return;
    const connection = ++this.connects;
    const { host, secret, userId, home, also } = this.#options;
    const query = new URLSearchParams({ token: await mintDevToken(secret, userId) });
    if (also.length > 0) query.set("also", also.join(","));
    const resume = connection > 1 ? this.lastRequestId : undefined;
    if (resume !== undefined) {
      query.set("resume", resume);
      this.resumesSent.push(resume);
    }
    const ws = new WebSocket(`ws://${host}/parties/bucket/${home}?${query}`);
    this.#socket = ws;
    ws.on("open", () => {
      ws.send(JSON.stringify({ type: "ping" }));
      if (this.#leaving) ws.send(JSON.stringify({ type: "leave" }));
    });
    ws.on("message", (data) => {
      const parsed = serverFrameSchema.safeParse(JSON.parse(String(data)));
      if (!parsed.success) throw new Error(`${userId}: a frame outside the protocol: ${String(data)}`);
      const frame = parsed.data;
      if (frame.type === "pong") return;
      this.seen.push({ frame, connection, at: Date.now() });
      if (frame.type === "match_found" && ws.readyState === WebSocket.OPEN)
        ws.send(JSON.stringify({ type: "confirm", matchId: frame.matchId }));
    });
    // A refused upgrade (the server still starting, say) or a connection that never came up.
    ws.on("unexpected-response", () => ws.terminate());
    ws.on("error", () => {});
    ws.on("close", (code) => {
      this.closes.push({ code, connection, at: Date.now() });
      if (this.#stopped || this.done) return;
      this.#retry = setTimeout(() => void this.#connect(), this.#options.reconnectMs);
    });
  }
}

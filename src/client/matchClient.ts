import PartySocket from "partysocket";
import { alsoRooms } from "../protocol/flexible.ts";
import {
  type ClientFrame,
  CloseCode,
  type ServerFrame,
  type ServerFrameOf,
  serverFrameSchema,
} from "../protocol/frames.ts";
import {
  type Bucket,
  difficultySchema,
  type Role,
  roleSchema,
  roomName,
  topicSchema,
} from "../protocol/values.ts";
import { type ConnectionEvents, type ConnectionOptions, decodeFrame, protocolOf } from "./connection.ts";
import { Emitter } from "./emitter.ts";

export type { WebSocketConstructor } from "./connection.ts";

export type MatchClientOptions = ConnectionOptions;

/**
 * What `on()` can listen to: every server frame by its `type`, plus connection events (`open`
 * with `resumed` true after a reconnect, which resumes the request; `closed`, whose
 * `willReconnect` is false once the session is over).
 */
export type MatchClientEvents = { [K in ServerFrame["type"]]: ServerFrameOf<K> } & ConnectionEvents;
export type MatchClientEvent = keyof MatchClientEvents;
type Listener<K extends MatchClientEvent> = (event: MatchClientEvents[K]) => void;

/** Close codes after which reconnecting cannot help. */
export const TERMINAL_CLOSE_CODES: ReadonlySet<number> = new Set<number>([
  CloseCode.unauthorized,
  CloseCode.queueTimeout,
  CloseCode.replaced,
  CloseCode.rateLimited,
  CloseCode.alreadyQueuedElsewhere,
  CloseCode.tryAgainLater,
  CloseCode.requestNotFound,
]);

/** Frames after which the server ends the session (and closes the socket). */
function isTerminalFrame(frame: ServerFrame): boolean {
  switch (frame.type) {
    case "match_ready":
    case "timeout":
    case "cancelled":
      return true;
    case "match_cancelled":
      // The decliner and the side that let the confirm window lapse are out; the other is requeued.
      return frame.reason === "declined" || frame.reason === "confirm_timeout";
    default:
      return false;
  }
}

/** What identifies a frame that ends a request or a match, to tell each once. */
function outcomeKey(frame: ServerFrame): string | undefined {
  switch (frame.type) {
    case "match_ready":
    case "match_cancelled":
      return `${frame.type}:${frame.matchId}`;
    case "timeout":
    case "cancelled":
      return `${frame.type}:${frame.requestId}`;
    default:
      return undefined;
  }
}

/**
 * A matchmaking session over one bucket's WebSocket. Typed events come straight from the
 * shared protocol schemas; reconnects (partysocket's, each with a fresh token) resume the same
 * request until a terminal outcome, after which the client stays closed.
 */
export class MatchClient {
  readonly #options: MatchClientOptions;
  readonly #events = new Emitter<MatchClientEvents>("MatchClient");
  #socket: PartySocket | undefined;
  #finished = false;
  #opens = 0;
  #matchId: string | undefined;
  #bucket: Bucket | undefined;
  /** The request this session is about, sent as `resume=` on every reconnect. */
  #requestId: string | undefined;
  /** The last frame that ended something (`type` and id), so a replayed one is not told twice. */
  #lastOutcome: string | undefined;

  constructor(options: MatchClientOptions) {
    this.#options = options;
  }

  /** The match currently being confirmed, if any. */
  get matchId(): string | undefined {
    return this.#matchId;
  }

  /** The request of this session, once the server named it. */
  get requestId(): string | undefined {
    return this.#requestId;
  }

  /** The bucket joined last (canonical form). */
  get bucket(): Bucket | undefined {
    return this.#bucket;
  }

  /** True while a socket is open or being (re)opened. */
  get active(): boolean {
    return this.#socket !== undefined;
  }

  /** Listen for an event; returns a function that removes the listener. */
  on<K extends MatchClientEvent>(type: K, listener: Listener<K>): () => void {
    return this.#events.on(type, listener);
  }

  #emit<K extends MatchClientEvent>(type: K, event: MatchClientEvents[K]): void {
    this.#events.emit(type, event);
  }

  /**
   * Join (or resume) the queue of one bucket, optionally asking to play `role` first
   * (`interviewer`, `interviewee` or `either`), to wait in up to 3 more buckets at once (`also`)
   * and to widen to the neighbouring difficulties after a while (`widen`). Everything is
   * validated and canonicalised as the server does; an invalid value throws before anything is
   * sent. Frames from whichever bucket holds the request arrive here.
   */
  join(bucket: {
    difficulty: string;
    topic: string;
    role?: Role;
    also?: { difficulty: string; topic: string }[];
    widen?: boolean;
  }): Bucket {
    if (this.#socket) throw new Error("MatchClient: already joined; call leave() or close() first");
    const canonical: Bucket = {
      difficulty: difficultySchema.parse(bucket.difficulty),
      topic: topicSchema.parse(bucket.topic),
    };
    const role = roleSchema.parse(bucket.role ?? "either");
    const also = alsoRooms(
      canonical,
      (bucket.also ?? []).map((b) => ({
        difficulty: difficultySchema.parse(b.difficulty),
        topic: topicSchema.parse(b.topic),
      })),
      [],
    );
    if (!also.ok) throw new Error(`MatchClient: ${also.message}`);
    const extra: Record<string, string> = {
      ...(role === "either" ? {} : { role }),
      ...(also.rooms.length > 0 ? { also: also.rooms.join(",") } : {}),
      ...(bucket.widen ? { widen: "1" } : {}),
    };
    this.#bucket = canonical;
    this.#finished = false;
    this.#opens = 0;
    this.#matchId = undefined;
    this.#requestId = undefined;
    this.#lastOutcome = undefined;
    const { host, getToken } = this.#options;
    const protocol = protocolOf(host);
    const socket = new PartySocket({
      host,
      ...(protocol ? { protocol } : {}),
      party: "bucket",
      room: roomName(canonical),
      // Every reconnect names the request it saw last: if that request ended meanwhile (its
      // outcome lost with the old socket), the server answers with how it ended, not a new one.
      query: async () => ({
        token: await getToken(),
        ...extra,
        ...(this.#requestId ? { resume: this.#requestId } : {}),
      }),
      minReconnectionDelay: this.#options.minReconnectionDelay ?? 1000,
      maxReconnectionDelay: this.#options.maxReconnectionDelay ?? 10_000,
      shouldReconnectOnClose: (event) => !this.#finished && !TERMINAL_CLOSE_CODES.has(event.code),
      ...(this.#options.WebSocket ? { WebSocket: this.#options.WebSocket } : {}),
    });
    this.#socket = socket;
    socket.addEventListener("open", () => {
      if (this.#socket !== socket) return;
      // Say something at once. The runtime (workerd/kj) only tears a hibernatable
      // socket's connection down after the closing handshake if the client's FIRST frame was
      // not its reply Close: when it is, the object's end stays open until the object
      // hibernates, and every close the server starts (4009, 4008, 4001, 1000 from an alarm)
      // reaches `close` here only ~10 s later (2 s in Chromium, by its own timeout). One ping
      // per (re)connect is enough; the server answers it with a pong.
      socket.send(JSON.stringify({ type: "ping" } satisfies ClientFrame));
      this.#emit("open", { resumed: this.#opens++ > 0 });
    });
    socket.addEventListener("message", (event) => {
      if (this.#socket !== socket) return;
      this.#receive(event.data);
    });
    socket.addEventListener("close", (event) => {
      if (this.#socket !== socket) return;
      const willReconnect =
        socket.shouldReconnect && !this.#finished && !TERMINAL_CLOSE_CODES.has(event.code);
      if (!willReconnect) {
        this.#finished = true;
        this.#socket = undefined;
        socket.close();
      }
      this.#emit("closed", { code: event.code, reason: event.reason ?? "", willReconnect });
    });
    return canonical;
  }

  #receive(data: unknown): void {
    const decoded = decodeFrame(serverFrameSchema, data);
    if (!decoded.ok) {
      this.#emit("invalid_frame", { data: decoded.data, problem: decoded.problem });
      return;
    }
    const frame = decoded.frame;
    const outcome = outcomeKey(frame);
    if (outcome !== undefined) {
      // A reconnect may replay what this socket already told (a frame that crossed the drop).
      if (outcome === this.#lastOutcome) return;
      this.#lastOutcome = outcome;
    }
    if (frame.type === "queued") this.#requestId = frame.requestId;
    if (frame.type === "match_found") this.#matchId = frame.matchId;
    if (frame.type === "match_cancelled" || frame.type === "match_ready") this.#matchId = undefined;
    if (isTerminalFrame(frame)) this.#finished = true;
    this.#dispatch(frame);
  }

  #dispatch(frame: ServerFrame): void {
    // One switch so each frame reaches its listeners with its own narrowed type.
    switch (frame.type) {
      case "queued":
        this.#emit("queued", frame);
        break;
      case "match_found":
        this.#emit("match_found", frame);
        break;
      case "partner_confirmed":
        this.#emit("partner_confirmed", frame);
        break;
      case "match_ready":
        this.#emit("match_ready", frame);
        break;
      case "match_cancelled":
        this.#emit("match_cancelled", frame);
        break;
      case "timeout":
        this.#emit("timeout", frame);
        break;
      case "cancelled":
        this.#emit("cancelled", frame);
        break;
      case "error":
        this.#emit("error", frame);
        break;
      case "pong":
        this.#emit("pong", frame);
        break;
    }
  }

  #send(frame: ClientFrame): void {
    if (!this.#socket) throw new Error("MatchClient: not joined");
    // partysocket buffers while reconnecting and flushes on open.
    this.#socket.send(JSON.stringify(frame));
  }

  #currentMatch(): string {
    if (!this.#matchId) throw new Error("MatchClient: there is no match to answer");
    return this.#matchId;
  }

  /** Accept the proposed match. */
  confirm(): void {
    this.#send({ type: "confirm", matchId: this.#currentMatch() });
  }

  /** Refuse the proposed match; this ends the session (the partner is requeued). */
  decline(): void {
    const matchId = this.#currentMatch();
    this.#finished = true;
    this.#send({ type: "decline", matchId });
  }

  /** Cancel the request; the server answers `cancelled` and closes. */
  leave(): void {
    this.#finished = true;
    this.#send({ type: "leave" });
  }

  /** Ask for a fresh `queued` frame (position, estimate). */
  status(): void {
    this.#send({ type: "status" });
  }

  ping(): void {
    this.#send({ type: "ping" });
  }

  /**
   * Close the socket without cancelling: the server keeps the request for its reconnect grace
   * window, so a later `join()` of the same bucket resumes it.
   */
  close(): void {
    const socket = this.#socket;
    if (!socket) return;
    this.#finished = true;
    // partysocket dispatches the close event synchronously; the listener does the bookkeeping.
    socket.close(1000, "client closed");
    if (this.#socket === socket) {
      // Still connecting (no socket yet), so partysocket dispatched nothing.
      this.#socket = undefined;
      this.#emit("closed", { code: 1000, reason: "client closed", willReconnect: false });
    }
  }
}

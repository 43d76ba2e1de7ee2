import PartySocket from "partysocket";
import { type UserFrame, type UserFrameOf, userFrameSchema } from "../protocol/challenges.ts";
import { CloseCode } from "../protocol/frames.ts";
import { type ConnectionEvents, type ConnectionOptions, decodeFrame, protocolOf } from "./connection.ts";
import { Emitter } from "./emitter.ts";

export type UserChannelOptions = ConnectionOptions & {
  /** The signed-in user's id: the channel's room (the server refuses any other with 403). */
  userId: string;
};

/** Every frame of the channel by its `type` (typed from the shared schemas), plus connection events. */
export type UserChannelEvents = { [K in UserFrame["type"]]: UserFrameOf<K> } & ConnectionEvents;
export type UserChannelEvent = keyof UserChannelEvents;

/**
 * The user's own channel (`/parties/user/{userId}`): challenges received, accepted, declined,
 * cancelled and expired, and `request_update` for their live request. It stays open (and
 * reconnects, with a fresh token each time) until `close()`; any number of tabs may hold one.
 */
export class UserChannel {
  readonly #options: UserChannelOptions;
  readonly #events = new Emitter<UserChannelEvents>("UserChannel");
  #socket: PartySocket | undefined;
  #opens = 0;

  constructor(options: UserChannelOptions) {
    this.#options = options;
  }

  get active(): boolean {
    return this.#socket !== undefined;
  }

  on<K extends UserChannelEvent>(type: K, listener: (event: UserChannelEvents[K]) => void): () => void {
    return this.#events.on(type, listener);
  }

  open(): void {
    if (this.#socket) return;
    const { host, userId, getToken } = this.#options;
    const protocol = protocolOf(host);
    const socket = new PartySocket({
      host,
      ...(protocol ? { protocol } : {}),
      party: "user",
      room: userId,
      query: async () => ({ token: await getToken() }),
      minReconnectionDelay: this.#options.minReconnectionDelay ?? 1000,
      maxReconnectionDelay: this.#options.maxReconnectionDelay ?? 10_000,
      // A refusal (another user's room) will not change by trying again; an expired token (4001)
      // does: the next attempt asks getToken() for a fresh one.
      shouldReconnectOnClose: (event) => event.code !== CloseCode.forbidden,
      ...(this.#options.WebSocket ? { WebSocket: this.#options.WebSocket } : {}),
    });
    this.#socket = socket;
    socket.addEventListener("open", () => {
      if (this.#socket !== socket) return;
      // As MatchClient: a first frame at once, so closes the server starts arrive at once (docs/architecture.md, "Closes").
      socket.send(JSON.stringify({ type: "ping" }));
      this.#events.emit("open", { resumed: this.#opens++ > 0 });
    });
    socket.addEventListener("message", (event) => {
      if (this.#socket === socket) this.#receive(event.data);
    });
    socket.addEventListener("close", (event) => {
      if (this.#socket !== socket) return;
      const willReconnect = socket.shouldReconnect;
      if (!willReconnect) {
        this.#socket = undefined;
        socket.close();
      }
      this.#events.emit("closed", { code: event.code, reason: event.reason ?? "", willReconnect });
    });
  }

  #receive(data: unknown): void {
    const decoded = decodeFrame(userFrameSchema, data);
    if (decoded.ok) this.#dispatch(decoded.frame);
    else this.#events.emit("invalid_frame", { data: decoded.data, problem: decoded.problem });
  }

  #dispatch(frame: UserFrame): void {
    // One switch so each frame reaches its listeners with its own narrowed type.
    switch (frame.type) {
      case "challenge_received":
        this.#events.emit("challenge_received", frame);
        break;
      case "challenge_accepted":
        this.#events.emit("challenge_accepted", frame);
        break;
      case "challenge_declined":
        this.#events.emit("challenge_declined", frame);
        break;
      case "challenge_cancelled":
        this.#events.emit("challenge_cancelled", frame);
        break;
      case "challenge_expired":
        this.#events.emit("challenge_expired", frame);
        break;
      case "request_update":
        this.#events.emit("request_update", frame);
        break;
      case "pong":
        this.#events.emit("pong", frame);
        break;
    }
  }

  /** Stop listening (other tabs keep theirs). */
  close(): void {
    const socket = this.#socket;
    if (!socket) return;
    this.#socket = undefined;
    socket.close(1000, "client closed");
    this.#events.emit("closed", { code: 1000, reason: "client closed", willReconnect: false });
  }
}

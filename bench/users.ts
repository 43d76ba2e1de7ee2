import { performance } from "node:perf_hooks";
import WebSocket from "ws";

/**
 * One simulated user: a real WebSocket client on `/parties/bucket/{room}?token=<jwt>` (plus
 * `&role=...` when it asks to play a part first). It records
 * the client-side time of every step on one monotonic clock (performance.now, shared by every
 * user in this process), so latencies across the two sides of a match are comparable.
 */

export type Mode =
  /** Confirm on `match_found`, then wait for `match_ready` and the server's close. */
  | "confirm"
  /** Stay waiting: resolve once `queued` arrives; the socket stays open until `leave()`. */
  | "idle"
  /**
   * Get matched but never confirm: resolve once `match_found` arrives; the socket stays open,
   * sitting in the confirmation window (what a long confirm window holds per user).
   */
  | "hold"
  /**
   * Wait like `idle` (resolve once `queued` arrives), but confirm a `match_found` that comes
   * later, so a waiter that does get paired finishes its match instead of holding it open.
   */
  | "waiter";

export class SimUser {
  readonly id: string;
  readonly room: string;
  readonly token: string;
  /** What it asks to play first; undefined: the URL says nothing (the server's default). */
  readonly role: "interviewer" | "interviewee" | "either" | undefined;
  ws: WebSocket | undefined;
  /** Before `new WebSocket(...)`: the join starts here, before the upgrade request is sent. */
  tJoin = Number.NaN;
  /** The upgrade answered 101 (`open`). The server has already run the join by then. */
  tOpen = Number.NaN;
  tQueued = Number.NaN;
  /** `position` of the first `queued` frame: 2 means this join completed a pair. */
  queuedPosition = 0;
  tFound = Number.NaN;
  matchId: string | undefined;
  partnerId: string | undefined;
  tConfirmSent = Number.NaN;
  tReady = Number.NaN;
  tClosed = Number.NaN;
  closeCode = 0;
  /** `match_cancelled` frames seen (the partner declined, left or timed out). */
  cancelledMatches = 0;
  error: string | undefined;
  #done: (() => void) | undefined;
  #mode: Mode = "confirm";

  /** More of the URL's query (`&also=...`: the other buckets a flexible request waits in). */
  readonly extraQuery: string;

  constructor(id: string, room: string, token: string, role?: SimUser["role"], extraQuery = "") {
    this.id = id;
    this.room = room;
    this.token = token;
    this.role = role;
    this.extraQuery = extraQuery;
  }

  get matched(): boolean {
    return !Number.isNaN(this.tFound);
  }

  /** Matched and still connected (hold mode: a socket sitting in the confirmation window). */
  get held(): boolean {
    return this.matched && this.ws?.readyState === WebSocket.OPEN;
  }

  get ready(): boolean {
    return !Number.isNaN(this.tReady);
  }

  /** Open the socket; resolves when this user's part is over (see Mode) or it failed. */
  start(wsBase: string, mode: Mode): Promise<void> {
    this.#mode = mode;
    return new Promise<void>((done) => {
      this.#done = done;
      this.tJoin = performance.now();
      let ws: WebSocket;
      try {
        const role = this.role === undefined ? "" : `&role=${this.role}`;
        ws = new WebSocket(
          `${wsBase}/parties/bucket/${this.room}?token=${this.token}${role}${this.extraQuery}`,
          {
            perMessageDeflate: false,
            handshakeTimeout: 60_000,
          },
        );
      } catch (error) {
        this.#fail(String(error));
        return;
      }
      this.ws = ws;
      ws.on("open", () => {
        this.tOpen = performance.now();
      });
      ws.on("message", (data) => this.#onMessage(data.toString()));
      ws.on("error", (error) => {
        this.error ??= error.message;
      });
      ws.on("unexpected-response", (_req, res) => {
        this.#fail(`HTTP ${res.statusCode}`);
        res.resume();
      });
      ws.on("close", (code) => {
        this.tClosed = performance.now();
        this.closeCode = code;
        if (this.#mode === "confirm" && !this.ready && this.error === undefined) {
          this.error = `closed ${code} before match_ready`;
        }
        this.#finish();
      });
    });
  }

  #onMessage(text: string): void {
    const now = performance.now();
    let frame: { type?: string; [key: string]: unknown };
    try {
      frame = JSON.parse(text);
    } catch {
      this.error ??= "non-JSON frame";
      return;
    }
    switch (frame.type) {
      case "queued":
        if (Number.isNaN(this.tQueued)) {
          this.tQueued = now;
          this.queuedPosition = Number(frame.position);
        }
        if (this.#mode === "idle" || this.#mode === "waiter") this.#finish();
        break;
      case "match_found":
        // Latency counts from the first match; a later one follows a cancelled match.
        if (Number.isNaN(this.tFound)) this.tFound = now;
        this.matchId = String(frame.matchId);
        this.partnerId = String(frame.partnerId);
        if (this.#mode === "hold") this.#finish();
        if (this.#mode === "confirm" || this.#mode === "waiter") {
          this.tConfirmSent = performance.now();
          this.ws?.send(JSON.stringify({ type: "confirm", matchId: frame.matchId }));
        }
        break;
      case "match_ready":
        this.tReady = now;
        break;
      case "error":
        this.error ??= `error frame: ${String(frame.code)}`;
        break;
      case "match_cancelled":
        // The partner left or timed out; the server puts this user back in the queue (not an
        // error: under load, stragglers are dropped at the end of a phase).
        this.cancelledMatches++;
        break;
      case "partner_confirmed":
      case "pong":
      case "cancelled":
        break;
      default:
        this.error ??= `unexpected ${String(frame.type)}`;
    }
  }

  #fail(message: string): void {
    this.error ??= message;
    this.tClosed = performance.now();
    try {
      this.ws?.terminate();
    } catch {
      // ignore
    }
    this.#finish();
  }

  #finish(): void {
    const done = this.#done;
    this.#done = undefined;
    done?.();
  }

  /** Leave the queue (`leave`: the request ends now, no grace) and wait for the close. */
  leave(timeoutMs: number): Promise<void> {
    const ws = this.ws;
    if (!ws || ws.readyState !== WebSocket.OPEN) return Promise.resolve();
    return new Promise<void>((done) => {
      const timer = setTimeout(() => {
        ws.terminate();
        done();
      }, timeoutMs);
      ws.once("close", () => {
        clearTimeout(timer);
        done();
      });
      ws.send(JSON.stringify({ type: "leave" }));
    });
  }

  /** Drop the socket without ceremony (end of a phase, stragglers). */
  terminate(): void {
    try {
      this.ws?.terminate();
    } catch {
      // ignore
    }
  }
}

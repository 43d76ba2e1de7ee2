import { type ServerFrame, type ServerFrameOf, serverFrameSchema } from "../../src/protocol/frames.ts";

import { Arrivals } from "./arrivals.ts";

/**
 * What a Server-Sent Events client sees on a response body, parsed by the spec's rules
 * (html.spec.whatwg.org, "Interpreting an event stream"): dispatched events with the id in force,
 * comments, and the last event id an EventSource would send on reconnect. Shared by the Workers
 * tests and the Node test against `wrangler dev`.
 */
export type SseEvent = { event: string; data: string; id: string };

export class SseReader {
  readonly events: SseEvent[] = [];
  readonly comments: string[] = [];
  /** What an EventSource would send as `Last-Event-ID` now. */
  lastEventId = "";
  ended = false;
  readonly #reader: ReadableStreamDefaultReader<Uint8Array>;
  readonly #arrivals = new Arrivals();

  constructor(body: ReadableStream<Uint8Array>) {
    this.#reader = body.getReader();
    void this.#pump();
  }

  async #pump(): Promise<void> {
    const decoder = new TextDecoder();
    let buffer = "";
    let event = "";
    let data: string[] = [];
    let id = this.lastEventId;
    try {
      for (;;) {
        const { done, value } = await this.#reader.read();
        if (done) break;
        buffer += decoder.decode(value, { stream: true });
        for (let nl = buffer.search(/\r\n|\r|\n/); nl >= 0; nl = buffer.search(/\r\n|\r|\n/)) {
          const line = buffer.slice(0, nl);
          buffer = buffer.slice(nl + (buffer.startsWith("\r\n", nl) ? 2 : 1));
          if (line === "") {
            this.lastEventId = id;
            if (data.length > 0) this.events.push({ event: event || "message", data: data.join("\n"), id });
            event = "";
            data = [];
            this.#arrivals.arrived();
            continue;
          }
          if (line.startsWith(":")) {
            this.comments.push(line.slice(1).trim());
            this.#arrivals.arrived();
            continue;
          }
          const colon = line.indexOf(":");
          const field = colon < 0 ? line : line.slice(0, colon);
          const value = colon < 0 ? "" : line.slice(colon + 1).replace(/^ /, "");
          if (field === "event") event = value;
          else if (field === "data") data.push(value);
          else if (field === "id") id = value;
        }
      }
    } catch {
      // Cancelled by the test, or the connection dropped: either way the stream is over.
    }
    this.ended = true;
    this.#arrivals.arrived();
  }

  #until<T>(check: () => T | undefined, what: string, timeoutMs: number): Promise<T> {
    return this.#arrivals.until(check, what, timeoutMs, () => this.events);
  }

  /** The next event, which must be the frame `type` (validated with the shared schema), and its id. */
  async next<T extends ServerFrame["type"]>(
    type: T,
    timeoutMs = 3000,
  ): Promise<{ frame: ServerFrameOf<T>; id: string }> {
    const e = await this.#until(() => this.events.shift(), `a ${type} event`, timeoutMs);
    const frame = serverFrameSchema.parse(JSON.parse(e.data));
    if (e.event !== type || frame.type !== type)
      throw new Error(`expected ${type}, got ${JSON.stringify(e)}`);
    return { frame: frame as ServerFrameOf<T>, id: e.id };
  }

  /** Resolves when the server has ended the stream. */
  async end(timeoutMs = 3000): Promise<void> {
    await this.#until(() => (this.ended ? true : undefined), "the end of the stream", timeoutMs);
  }

  /** Resolves once `count` comments have arrived. */
  async comment(count = 1, timeoutMs = 3000): Promise<string> {
    return this.#until(() => this.comments[count - 1], `comment ${count}`, timeoutMs);
  }

  /** Close the stream from the client's side, as closing an EventSource does. */
  async close(): Promise<void> {
    await this.#reader.cancel().catch(() => {});
  }
}

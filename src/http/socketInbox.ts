import { z } from "zod";
import { type ErrorCode, errorFrame } from "../protocol/frames.ts";

/** What arrives on a socket the Worker holds: a frame (its `type` and text as sent), or its close. */
export type InboxItem =
  | { kind: "frame"; type: string; text: string; error?: { code: ErrorCode; message: string } }
  | { kind: "closed"; code: number };

/**
 * A WebSocket the Worker holds to a bucket actor, read one item at a time in arrival order, so a
 * route can wait for the first frame and then relay the rest.
 */
export class SocketInbox {
  readonly #ws: WebSocket;
  readonly #items: InboxItem[] = [];
  #wake: (() => void) | null = null;
  #closed = false;

  constructor(ws: WebSocket) {
    this.#ws = ws;
    ws.addEventListener("message", (e) => {
      if (typeof e.data === "string") this.#push(parse(e.data));
    });
    ws.addEventListener("close", (e) => this.#end(e.code));
    ws.addEventListener("error", () => this.#end(1006));
    ws.accept();
    // A client whose first frame is its reply to the server's Close keeps the runtime from
    // releasing the connection until the bucket hibernates, so the close would come ~10 s late
    // (docs/architecture.md, "Closes"). The bucket's `pong` is dropped by the reader.
    this.send('{"type":"ping"}');
  }

  /** The next item; after the close, the close again. */
  async next(): Promise<InboxItem> {
    for (;;) {
      const item = this.#items.shift();
      if (item) {
        // Keep the close for later calls: a reader that asks again learns the socket is gone.
        if (item.kind === "closed") this.#items.unshift(item);
        return item;
      }
      await new Promise<void>((resolve) => {
        this.#wake = resolve;
      });
    }
  }

  send(text: string): void {
    try {
      this.#ws.send(text);
    } catch {
      // Closed already: the close is (or will be) in the inbox.
    }
  }

  /** Close our end (a disconnect, as far as the bucket can tell): the reader sees `closed` at once. */
  close(code: number, reason: string): void {
    try {
      this.#ws.close(code, reason);
    } catch {
      // Closed already.
    }
    this.#end(code);
  }

  #end(code: number): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#push({ kind: "closed", code });
  }

  #push(item: InboxItem): void {
    if (this.#closed && item.kind === "frame") return;
    this.#items.push(item);
    this.#wake?.();
    this.#wake = null;
  }
}

const typed = z.object({ type: z.string() });

function parse(text: string): InboxItem {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    // Not JSON: relayed as a plain message; the bucket never sends one.
    return { kind: "frame", type: "message", text };
  }
  const refused = errorFrame.safeParse(json);
  if (refused.success) return { kind: "frame", type: "error", text, error: refused.data };
  return { kind: "frame", type: typed.safeParse(json).data?.type ?? "message", text };
}

import WebSocket from "ws";
import { listeningPorts } from "./proc.ts";

/**
 * A Chrome DevTools Protocol session with the runtime workerd (the Worker and every Durable
 * Object share its one isolate): CPU profiles for bench/profile.ts, and the live JS heap for the
 * memory figures, which RSS cannot tell apart from memory the allocator merely keeps.
 */
export class Inspector {
  readonly #ws: WebSocket;
  #id = 0;
  readonly #waiting = new Map<number, (v: unknown) => void>();

  private constructor(ws: WebSocket) {
    this.#ws = ws;
    ws.on("message", (data) => {
      const msg = JSON.parse(data.toString()) as { id?: number; result?: unknown; error?: unknown };
      if (msg.id !== undefined) this.#waiting.get(msg.id)?.(msg.error ? { error: msg.error } : msg.result);
    });
  }

  /** Connect through wrangler's inspector proxy; undefined if none answers. */
  static async connect(workerdPids: number[]): Promise<Inspector | undefined> {
    const url = await inspectorUrl(workerdPids);
    if (!url) return undefined;
    const ws = new WebSocket(url);
    try {
      await new Promise((done, fail) => ws.once("open", done).once("error", fail));
    } catch {
      return undefined;
    }
    return new Inspector(ws);
  }

  send(method: string, params: Record<string, unknown> = {}, timeoutMs = 60_000): Promise<unknown> {
    const id = ++this.#id;
    return new Promise((done, fail) => {
      const timer = setTimeout(
        () => fail(new Error(`${method}: no answer within ${timeoutMs} ms`)),
        timeoutMs,
      );
      this.#waiting.set(id, (v) => {
        clearTimeout(timer);
        this.#waiting.delete(id);
        done(v);
      });
      this.#ws.send(JSON.stringify({ id, method, params }));
    });
  }

  /**
   * The isolate's live heap after a full collection, in MB: JS objects plus the runtime's own
   * objects on V8's C++ heap. workerd does not answer HeapProfiler.collectGarbage, but a heap
   * snapshot collects first (its chunks are ignored here).
   */
  async liveHeapMb(): Promise<number | undefined> {
    await this.send("HeapProfiler.takeHeapSnapshot", { reportProgress: false }, 120_000);
    const usage = (await this.send("Runtime.getHeapUsage")) as {
      usedSize?: number;
      embedderHeapUsedSize?: number;
    };
    if (typeof usage.usedSize !== "number") return undefined;
    return (usage.usedSize + (usage.embedderHeapUsedSize ?? 0)) / 1048576;
  }

  close(): void {
    this.#ws.close();
  }
}

async function inspectorUrl(workerdPids: number[]): Promise<string | undefined> {
  // wrangler's inspector proxy (in the proxy workerd) answers; the runtime's own port does not
  // serve a second session while wrangler holds one.
  for (const pid of [...workerdPids].reverse()) {
    for (const port of listeningPorts(pid)) {
      try {
        const res = await fetch(`http://127.0.0.1:${port}/json`, { signal: AbortSignal.timeout(1500) });
        const targets = (await res.json()) as Array<{ id: string; webSocketDebuggerUrl: string }>;
        const user = Array.isArray(targets)
          ? targets.find((t) => t.webSocketDebuggerUrl.endsWith("/ws"))
          : undefined;
        if (user) return user.webSocketDebuggerUrl;
      } catch {
        // not an inspector
      }
    }
  }
  return undefined;
}

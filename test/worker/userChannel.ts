import { env, SELF } from "cloudflare:test";
import { type UserFrame, type UserFrameOf, userFrameSchema } from "../../src/protocol/challenges.ts";
import { userActorName } from "../../src/tenancy.ts";
import { tokenFor } from "./socketClient.ts";

/** A test's view of one tab's user channel: frames validated against the shared schema, in order. */
export class ChannelSocket {
  readonly frames: UserFrame[] = [];
  closeCode: number | null = null;
  #waiters: Array<() => void> = [];
  readonly ws: WebSocket;

  constructor(ws: WebSocket) {
    this.ws = ws;
    ws.addEventListener("message", (e) => {
      this.frames.push(userFrameSchema.parse(JSON.parse(String(e.data))));
      for (const w of this.#waiters.splice(0)) w();
    });
    ws.addEventListener("close", (e) => {
      this.closeCode = e.code;
      for (const w of this.#waiters.splice(0)) w();
    });
  }

  /** The close code, once the server closed this tab. */
  async closed(timeoutMs = 3000): Promise<number> {
    const deadline = performance.now() + timeoutMs;
    while (this.closeCode === null) {
      if (performance.now() > deadline) throw new Error("timed out waiting for close");
      await new Promise((r) => setTimeout(r, 20));
    }
    return this.closeCode;
  }

  /** The next frame of `type`, skipping others (a channel also carries request updates). */
  async next<T extends UserFrame["type"]>(type: T, timeoutMs = 5000): Promise<UserFrameOf<T>> {
    const deadline = performance.now() + timeoutMs;
    for (;;) {
      const i = this.frames.findIndex((f) => f.type === type);
      if (i >= 0) return this.frames.splice(i, 1)[0] as UserFrameOf<T>;
      const left = deadline - performance.now();
      if (left <= 0) throw new Error(`timed out waiting for ${type}; got ${JSON.stringify(this.frames)}`);
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, left);
        this.#waiters.push(() => {
          clearTimeout(t);
          resolve();
        });
      });
    }
  }

  close(): void {
    this.ws.close(1000, "done");
  }
}

/** Open `room`'s channel as `userId`: a socket, or the refusal's status. */
export async function openChannel(userId: string, room = userId, token?: string): Promise<ChannelSocket> {
  const res = await channelUpgrade(userId, room, token);
  const ws = res.webSocket;
  if (!ws) throw new Error(`upgrade refused: ${res.status} ${await res.text()}`);
  ws.accept();
  const socket = new ChannelSocket(ws);
  // The SDK's first frame: the open is complete once the answer comes back.
  ws.send(JSON.stringify({ type: "ping" }));
  await socket.next("pong");
  return socket;
}

export async function channelUpgrade(userId: string, room: string, token?: string): Promise<Response> {
  const t = token ?? (await tokenFor(userId));
  return SELF.fetch(`https://matcher.test/parties/user/${encodeURIComponent(room)}?token=${t}`, {
    headers: { Upgrade: "websocket" },
  });
}

export function userStub(userId: string, tenant = "default") {
  return env.User.get(env.User.idFromName(userActorName(tenant, userId)));
}

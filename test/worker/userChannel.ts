import { env, SELF } from "cloudflare:test";
import { type UserFrame, type UserFrameOf, userFrameSchema } from "../../src/protocol/challenges.ts";
import { userActorName } from "../../src/tenancy.ts";
import { FrameSocket, tokenFor } from "./socketClient.ts";

/** A test's view of one tab's user channel: frames validated against the shared schema. */
export class ChannelSocket extends FrameSocket<UserFrame> {
  constructor(ws: WebSocket) {
    super(ws, (json) => userFrameSchema.parse(json));
  }

  /** The next frame of `type`, skipping others (a channel also carries request updates). */
  nextOf<T extends UserFrame["type"]>(type: T, timeoutMs = 5000): Promise<UserFrameOf<T>> {
    return this.until(
      () => {
        const i = this.frames.findIndex((f) => f.type === type);
        return i >= 0 ? (this.frames.splice(i, 1)[0] as UserFrameOf<T>) : undefined;
      },
      `a ${type} frame`,
      timeoutMs,
    );
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
  await socket.nextOf("pong");
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

import { DurableObject } from "cloudflare:workers";

/**
 * The runtime's floor: the smallest Worker + Durable Object that speaks enough of our socket
 * protocol for the bench's users (`queued`, `match_found`, `confirm`, `match_ready`), with none
 * of our work: no token check, no registry, no storage, no schema validation, no partyserver.
 * Benching it under the same `wrangler dev` shows what joins/s, latency and memory per socket
 * the local runtime itself allows; the gap to the real service is ours.
 */

type Env = {
  Floor: DurableObjectNamespace<FloorBucket>;
  FloorClaim: DurableObjectNamespace<FloorClaim>;
  /** "1": every join first claims in a per-user Durable Object (one SQLite row), as ours does. */
  CLAIM?: string;
};
type Tag = { user: string; match?: string; confirmed?: boolean };

export class FloorBucket extends DurableObject<Env> {
  /** The waiting socket (FIFO of one is enough: every arrival pairs with it). */
  #waiting: WebSocket | undefined;

  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env);
    // Woken from hibernation: the unmatched socket, if any, is still waiting.
    this.#waiting = ctx.getWebSockets().find((w) => !(w.deserializeAttachment() as Tag).match);
  }

  override async fetch(request: Request): Promise<Response> {
    // Unchecked: the token string itself stands in for the user id (each bench user has its own).
    const user = new URL(request.url).searchParams.get("token") ?? crypto.randomUUID();
    const room = new URL(request.url).pathname;
    if (this.env.CLAIM === "1")
      await this.env.FloorClaim.get(this.env.FloorClaim.idFromName(user)).claim(room);
    const { 0: client, 1: server } = new WebSocketPair();
    // Hibernatable, as the real bucket's sockets are.
    this.ctx.acceptWebSocket(server, [user]);
    server.serializeAttachment({ user } satisfies Tag);
    const partner = this.#waiting;
    if (partner && partner.readyState === WebSocket.OPEN) {
      this.#waiting = undefined;
      server.send(JSON.stringify({ type: "queued", position: 2 }));
      const match = crypto.randomUUID();
      const p = partner.deserializeAttachment() as Tag;
      partner.serializeAttachment({ ...p, match });
      server.serializeAttachment({ user, match });
      partner.send(JSON.stringify({ type: "match_found", matchId: match, partnerId: user }));
      server.send(JSON.stringify({ type: "match_found", matchId: match, partnerId: p.user }));
    } else {
      this.#waiting = server;
      server.send(JSON.stringify({ type: "queued", position: 1 }));
    }
    return new Response(null, { status: 101, webSocket: client });
  }

  override webSocketMessage(ws: WebSocket, message: string | ArrayBuffer): void {
    const frame: unknown = JSON.parse(
      typeof message === "string" ? message : new TextDecoder().decode(message),
    );
    if (typeof frame !== "object" || frame === null || !("type" in frame)) return;
    const me = ws.deserializeAttachment() as Tag;
    if (frame.type === "leave") {
      if (this.#waiting === ws) this.#waiting = undefined;
      ws.close(1000, "left");
      return;
    }
    if (frame.type !== "confirm" || !("matchId" in frame) || me.match !== frame.matchId) return;
    ws.serializeAttachment({ ...me, confirmed: true });
    const pair = this.ctx
      .getWebSockets()
      .filter((w) => (w.deserializeAttachment() as Tag).match === me.match);
    if (!pair.every((w) => (w.deserializeAttachment() as Tag).confirmed)) return;
    for (const w of pair) {
      w.send(JSON.stringify({ type: "match_ready", matchId: me.match }));
      w.close(1000, "match ready");
    }
  }

  override webSocketClose(ws: WebSocket): void {
    if (this.#waiting === ws) this.#waiting = undefined;
    const me = ws.deserializeAttachment() as Tag;
    if (this.env.CLAIM === "1") {
      this.env.FloorClaim.get(this.env.FloorClaim.idFromName(me.user))
        .release()
        .catch(() => {});
    }
  }
}

/** The least a per-user claim can be: one Durable Object per user holding one SQLite row. */
export class FloorClaim extends DurableObject<Env> {
  claim(room: string): void {
    this.ctx.storage.sql.exec("CREATE TABLE IF NOT EXISTS claim (room TEXT)");
    this.ctx.storage.sql.exec("DELETE FROM claim");
    this.ctx.storage.sql.exec("INSERT INTO claim VALUES (?)", room);
  }

  release(): void {
    this.ctx.storage.sql.exec("DELETE FROM claim");
  }
}

export default {
  fetch(request: Request, env: Env): Response | Promise<Response> {
    const url = new URL(request.url);
    if (url.pathname.endsWith("/health")) return new Response("ok");
    const room = /^\/parties\/bucket\/([^/]+)$/.exec(url.pathname)?.[1];
    if (!room || request.headers.get("Upgrade") !== "websocket")
      return new Response("not found", { status: 404 });
    return env.Floor.get(env.Floor.idFromName(room)).fetch(request);
  },
} satisfies ExportedHandler<Env>;

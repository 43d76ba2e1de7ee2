import { type Connection, type ConnectionContext, Server, type WSMessage } from "partyserver";
import { configFromEnv } from "../config.ts";
import type { Env } from "../env.ts";
import { type BucketState, restoreBucketState } from "../matching/state.ts";
import type { Step } from "../matching/step.ts";
import * as bucket from "../matching/transitions.ts";
import type { Clock, Settings } from "../matching/types.ts";
import {
  CloseCode,
  clientFrameSchema,
  MAX_CLIENT_FRAME_BYTES,
  type ErrorCode,
  type ServerFrame,
} from "../protocol/frames.ts";
import { type Bucket, parseRoomName } from "../protocol/values.ts";
import { BucketStorage } from "./bucketStorage.ts";
import { USER_HEADER } from "./forwarding.ts";

/** What a socket remembers about itself; serialized with the socket, so it survives hibernation. */
type SocketState = { userId: string };

/**
 * One difficulty/topic bucket. A thin shell around the matching core: it turns sockets, RPC
 * calls and the alarm into core transitions, persists each Step before acting on it, and
 * performs the Step's effects. The router has already verified the caller's token; the user id
 * arrives in a header the router sets and no client can reach directly.
 */
export class BucketActor extends Server<Env> {
  static override options = { hibernate: true };

  readonly #storage: BucketStorage;
  readonly #state: BucketState;
  /** The alarm time we last asked for, so an unchanged deadline costs no storage write. */
  #alarmAt: number | null = null;

  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env);
    // SQLite storage is synchronous, so live state is rebuilt before any event is delivered.
    this.#storage = new BucketStorage(ctx.storage);
    const room = parseRoomName(this.name);
    if (!room) throw new Error(`BucketActor addressed by a non-canonical room name: ${this.name}`);
    this.#state = restoreBucketState(room, settingsFrom(env), { ...this.#storage.loadLive(), nextRank: 1 });
    ctx.blockConcurrencyWhile(async () => {
      const at = await ctx.storage.getAlarm();
      this.#alarmAt = at;
      this.#reschedule();
    });
  }

  get bucket(): Bucket {
    return this.#state.bucket;
  }

  // --- sockets -------------------------------------------------------------------------------

  override getConnectionTags(_connection: Connection, ctx: ConnectionContext): string[] {
    return [ctx.request.headers.get(USER_HEADER) ?? ""];
  }

  override onConnect(connection: Connection<SocketState>, ctx: ConnectionContext): void {
    const userId = ctx.request.headers.get(USER_HEADER);
    if (!userId) {
      connection.close(CloseCode.unauthorized, "unauthenticated");
      return;
    }
    connection.setState({ userId });
    // The newest socket takes over: a reload or a second tab must not leave two live views.
    for (const other of this.getConnections<SocketState>(userId)) {
      if (other.id !== connection.id) other.close(CloseCode.replaced, "replaced by a newer connection");
    }
    this.#run(bucket.join(this.#state, this.#clock(), userId).step);
  }

  override onMessage(connection: Connection<SocketState>, message: WSMessage): void {
    const userId = connection.state?.userId;
    if (!userId) return;
    const size = typeof message === "string" ? message.length : message.byteLength;
    if (size > MAX_CLIENT_FRAME_BYTES) {
      this.#refuse(connection, "frame_too_large", `Frames are limited to ${MAX_CLIENT_FRAME_BYTES} bytes.`);
      return;
    }
    let json: unknown;
    try {
      json = JSON.parse(typeof message === "string" ? message : new TextDecoder().decode(message));
    } catch {
      this.#refuse(connection, "invalid_frame", "Frames must be JSON objects with a `type`.");
      return;
    }
    const parsed = clientFrameSchema.safeParse(json);
    if (!parsed.success) {
      const detail = parsed.error.issues[0];
      const where = detail?.path.length ? ` at ${detail.path.join(".")}` : "";
      this.#refuse(connection, "invalid_frame", `Invalid frame${where}: ${detail?.message ?? "unknown"}.`);
      return;
    }
    const frame = parsed.data;
    if (frame.type === "ping") {
      connection.send(JSON.stringify({ type: "pong" } satisfies ServerFrame));
      return;
    }
    const clock = this.#clock();
    this.#expire(clock);
    const outcome =
      frame.type === "confirm"
        ? bucket.confirm(this.#state, clock, userId, frame.matchId)
        : frame.type === "decline"
          ? bucket.decline(this.#state, clock, userId, frame.matchId)
          : frame.type === "leave"
            ? bucket.leave(this.#state, clock, userId)
            : bucket.status(this.#state, userId);
    this.#run(outcome.step);
    if (!outcome.result.ok) this.#refuse(connection, outcome.result.code, outcome.result.message);
  }

  override onClose(connection: Connection<SocketState>): void {
    const userId = connection.state?.userId;
    if (!userId) return;
    // Only the user's last open socket starts the grace period (a replaced tab does not).
    for (const _ of this.getConnections(userId)) return;
    const clock = this.#clock();
    this.#expire(clock);
    this.#run(bucket.disconnect(this.#state, clock, userId).step);
  }

  override onAlarm(): void {
    this.#alarmAt = null;
    const clock = this.#clock();
    this.#expire(clock);
    this.#storage.pruneEnded(clock.now);
    this.#reschedule();
  }

  // --- the shell around the core ---------------------------------------------------------------

  #clock(): Clock {
    return { now: Date.now(), newId: (prefix) => `${prefix}_${crypto.randomUUID()}` };
  }

  /** Apply due deadlines first, so a late alarm never lets a stale action through. */
  #expire(clock: Clock): void {
    this.#run(bucket.expireDue(this.#state, clock).step);
  }

  /** Persist a Step, then perform its effects, then move the alarm to the next deadline. */
  #run(step: Step): void {
    this.#storage.write(step, false);
    for (const effect of step.effects) {
      if (effect.kind === "send") this.#sendTo(effect.userId, effect.frame);
      else if (effect.kind === "close") {
        for (const c of this.getConnections(effect.userId)) c.close(effect.code, effect.reason);
      }
    }
    if (step.wroteAnything) this.#reschedule();
  }

  #sendTo(userId: string, frame: ServerFrame): void {
    const text = JSON.stringify(frame);
    for (const c of this.getConnections(userId)) c.send(text);
  }

  #refuse(connection: Connection, code: ErrorCode, message: string): void {
    connection.send(JSON.stringify({ type: "error", code, message } satisfies ServerFrame));
  }

  #reschedule(): void {
    const next = bucket.nextDeadline(this.#state);
    if (next === this.#alarmAt) return;
    this.#alarmAt = next;
    if (next === null) void this.ctx.storage.deleteAlarm();
    else void this.ctx.storage.setAlarm(next);
  }
}

function settingsFrom(env: Env): Settings {
  const loaded = configFromEnv(env);
  if (!loaded.ok) throw new Error(`Invalid configuration: ${loaded.problems.map((p) => p.key).join(", ")}`);
  const c = loaded.config;
  return {
    queueTimeoutMs: c.MATCH_TIMEOUT_SECONDS * 1000,
    confirmTimeoutMs: c.CONFIRM_TIMEOUT_SECONDS * 1000,
    reconnectGraceMs: c.RECONNECT_GRACE_SECONDS * 1000,
    orchestrate: c.QUESTION_SERVICE_URL !== undefined || c.COLLAB_SERVICE_URL !== undefined,
  };
}

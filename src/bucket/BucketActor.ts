import { type Connection, type ConnectionContext, Server, type WSMessage } from "partyserver";
import { bucketActor, holdsAsBucket } from "../actors.ts";
import { type Config, configFromEnv } from "../config.ts";
import type { Env } from "../env.ts";
import { pairingFingerprint } from "../matching/compatibility.ts";
import * as handover from "../matching/handover.ts";
import { engages, lastWords, noteMissed, type Owed } from "../matching/owedOutcomes.ts";
import type { HandOverAnswer, PeerMessage } from "../matching/peerMessages.ts";
import type { BucketState } from "../matching/state.ts";
import { queuePosition, restoreBucketState } from "../matching/state.ts";
import type { Step } from "../matching/step.ts";
import * as bucket from "../matching/transitions.ts";
import type { Clock, Match, MatchRequest } from "../matching/types.ts";
import { OneAlarm } from "../OneAlarm.ts";
import { CloseCode, type ErrorCode, readClientFrame, type ServerFrame } from "../protocol/frames.ts";
import type { RequestView } from "../protocol/http.ts";
import { type Bucket, parseRoomName, roomName } from "../protocol/values.ts";
import { answerSocket, refuseSocket } from "../refuseSocket.ts";
import { RegistryClient } from "../registry/RegistryClient.ts";
import { TokenExpiries } from "../TokenExpiries.ts";
import { parseBucketActorName } from "../tenancy.ts";
import { BucketPeers } from "./BucketPeers.ts";
import { BucketStorage, PRUNE_AFTER_MS } from "./bucketStorage.ts";
import { FigureReporter } from "./FigureReporter.ts";
import {
  type JoinWish,
  RESUME_HEADER,
  TOKEN_EXP_HEADER,
  USER_HEADER,
  wishFromHeaders,
} from "./forwarding.ts";
import { JoinGate } from "./JoinGate.ts";
import { OutboxDelivery } from "./OutboxDelivery.ts";
import { OwedOutcomes } from "./OwedOutcomes.ts";
import { pairingSettings } from "./pairingSettings.ts";
import { RequestWatchers } from "./RequestWatchers.ts";
import { notFound, type Refusal, refusalClose, whyNotConfirmable } from "./refusal.ts";
import { type QueueFigures, requestView } from "./requestView.ts";
import { SessionSetups, sessionServices } from "./SessionSetups.ts";

/** What a socket remembers about itself; serialized with the socket, so it survives hibernation. */
type SocketState = { userId: string; tokenExpiresAt: number };

type Admission = { ok: true; request: RequestView; created: boolean } | Refusal;
type Responded =
  | { ok: true; state: "declined" | "waiting_for_partner" | "setting_up" | "ready"; view: RequestView }
  | Refusal;
/** What `#admit` decides; the view is built only where it is answered (not for sockets). */
type Admitted = { ok: true; requestId: string; created: boolean } | Refusal;
/** What a connect is answered with instead of a live request: frames, then a close. */
type Answer = Pick<Owed, "frames"> & { close: { code: number; reason: string } };

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
  readonly #config: Config;
  readonly #registry: RegistryClient;
  readonly #gate: JoinGate;
  readonly #alarm: OneAlarm;
  /** When ended rows next become old enough to prune. */
  #pruneAt: number | null = null;
  readonly #tokens: TokenExpiries;
  readonly #outbox: OutboxDelivery;
  readonly #reporter: FigureReporter;
  readonly #setups: SessionSetups;
  /** The other buckets that flexible requests wait in (hand-overs, messages, asks). */
  readonly #peers: BucketPeers;
  readonly #watchers: RequestWatchers;
  /** What users missed while they had no socket or stream here. */
  readonly #owed: OwedOutcomes;

  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env);
    this.#alarm = new OneAlarm(ctx.storage);
    const loaded = configFromEnv(env);
    if (!loaded.ok) throw new Error(`Invalid configuration: ${loaded.problems.map((p) => p.key).join(", ")}`);
    this.#config = loaded.config;
    // SQLite storage is synchronous, so live state is rebuilt before any event is delivered.
    this.#storage = new BucketStorage(ctx.storage);
    const named = parseBucketActorName(this.name);
    if (!named) throw new Error(`BucketActor addressed by a name bucketActorName did not make: ${this.name}`);
    const { tenant, bucket: room } = named;
    this.#registry = new RegistryClient(env, tenant, this.name, this.#config.REGISTRY_SHARDS);
    this.#owed = new OwedOutcomes(ctx.storage.sql);
    this.#gate = new JoinGate(this.#registry, (userId) => {
      const clock = this.#clock();
      this.#expire(clock);
      return (
        bucket.ownRequestOf(this.#state, userId) !== undefined ||
        this.#owed.engaging(userId, clock.now) !== undefined
      );
    });
    this.#state = restoreBucketState(room, pairingSettings(this.#config), {
      ...this.#storage.loadLive(),
      nextRank: 1,
    });
    this.#tokens = new TokenExpiries(this.#storage.tokenExpiryAt(), (at) =>
      this.#storage.setTokenExpiryAt(at),
    );
    this.#watchers = new RequestWatchers(env, tenant, ctx.storage);
    this.#pruneAt = this.#storage.oldestEndedAt();
    if (this.#pruneAt !== null) this.#pruneAt += PRUNE_AFTER_MS;
    this.#reporter = new FigureReporter(env, tenant, roomName(room), () => ({
      waiting: this.#state.queue.length,
      live: this.#state.requests.size,
      p50WaitMs: this.#state.stats.percentile(50),
      p95WaitMs: this.#state.stats.percentile(95),
    }));
    this.#outbox = new OutboxDelivery(
      this.#storage,
      tenant,
      room,
      this.#config.DATABASE_URL,
      this.#config.NEON_WS_PROXY,
    );
    this.#setups = new SessionSetups(sessionServices(this, this.#config), tenant, room, (matchId, answer) => {
      const clock = this.#clock();
      this.#expire(clock);
      this.#run(
        answer.ok
          ? bucket.setupSucceeded(this.#state, clock, matchId, answer.ids).step
          : bucket.setupFailed(this.#state, clock, matchId).step,
      );
    });
    this.#peers = new BucketPeers(env, tenant, roomName(room), this.#storage, {
      answered: (pairId, answers) => {
        const clock = this.#clock();
        this.#expire(clock);
        this.#run(handover.handOverAnswered(this.#state, clock, pairId, answers));
      },
      retryLater: () => this.#reschedule(),
    });
    ctx.blockConcurrencyWhile(async () => {
      await this.#alarm.load();
      this.#reschedule();
    });
    // A setup that was under way when the actor was evicted is asked for again; the services
    // get the same idempotency keys, so they create one session, not two.
    this.#setups.resume(this.#state.matches.values());
    this.#peers.resume(this.#state);
    this.#run(handover.releaseUnaskedPairs(this.#state, this.#clock()));
    const fingerprint = pairingFingerprint(this.#state.settings);
    if (this.#storage.pairingFingerprint() !== fingerprint) {
      if (this.#state.queue.length > 1) this.#run(bucket.resettle(this.#state, this.#clock()).step);
      this.#storage.setPairingFingerprint(fingerprint);
    }
  }

  get bucket(): Bucket {
    return this.#state.bucket;
  }

  // --- sockets -------------------------------------------------------------------------------

  /**
   * A socket's join is counted and claimed before partyserver accepts it, so a refusal (4409: a
   * live request elsewhere; 4029) goes out on a plain socket whose close completes at once
   * (src/refuseSocket.ts); `onConnect` then creates the request with the granted claim.
   */
  override async fetch(request: Request): Promise<Response> {
    const userId = request.headers.get(USER_HEADER);
    if (!userId || request.headers.get("Upgrade")?.toLowerCase() !== "websocket") return super.fetch(request);
    const limited = this.#gate.count(userId, Date.now());
    const answer = limited
      ? undefined
      : await this.#answerFromBefore(userId, request.headers.get(RESUME_HEADER));
    if (answer) {
      this.#reschedule();
      return answerSocket(answer.frames, answer.close);
    }
    const refused = limited ?? (await this.#gate.clear(userId));
    this.#reschedule();
    if (refused) {
      // Engaged elsewhere because an outcome is owed there: that outcome is this connect's answer.
      const owedThere =
        refused.heldBy && holdsAsBucket(refused.heldBy) ? await this.#owedAt(refused.heldBy, userId) : null;
      if (owedThere) return answerSocket(owedThere.frames, owedThere.close);
      return refuseSocket(refused.code as ErrorCode, refused.message, refusalClose(refused));
    }
    const granted = this.#gate.waiting(userId);
    try {
      return await super.fetch(request);
    } finally {
      // A claim this upgrade was granted and never used (it failed before `onConnect`).
      if (granted) this.#gate.giveBack(userId, granted);
    }
  }

  override getConnectionTags(_connection: Connection, ctx: ConnectionContext): string[] {
    return [ctx.request.headers.get(USER_HEADER) ?? ""];
  }

  override async onConnect(connection: Connection<SocketState>, ctx: ConnectionContext): Promise<void> {
    const userId = ctx.request.headers.get(USER_HEADER);
    if (!userId) {
      connection.close(CloseCode.unauthorized, "unauthenticated");
      return;
    }
    const tokenExpiresAt = Number(ctx.request.headers.get(TOKEN_EXP_HEADER) ?? 0);
    connection.setState({ userId, tokenExpiresAt });
    this.#tokens.opened(tokenExpiresAt);
    // The newest socket takes over: a reload or a second tab must not leave two live views.
    for (const other of this.getConnections<SocketState>(userId)) {
      if (other.id !== connection.id) other.close(CloseCode.replaced, "replaced by a newer connection");
    }
    // What the user missed about their live request (a match that fell through) comes first;
    // the join below then describes where the request stands now.
    const live = bucket.ownRequestOf(this.#state, userId);
    const missed = live ? this.#owed.take(userId, Date.now(), live.id) : undefined;
    for (const frame of missed?.frames ?? []) connection.send(JSON.stringify(frame));
    // Claimed in `fetch` already (or live here), so this is refused only if that changed since
    // (rare: the claim's request was created and ended by another join meanwhile).
    const admitted = await this.#admit(userId, wishFromHeaders(ctx.request.headers));
    if (!admitted.ok) {
      this.#refuse(connection, admitted.code as ErrorCode, admitted.message);
      connection.close(refusalClose(admitted), admitted.code);
      return;
    }
    // The socket may have gone while we waited; the request then gets the grace.
    if (connection.readyState !== WebSocket.READY_STATE_OPEN) this.onClose(connection);
    this.#reschedule();
  }

  override onMessage(connection: Connection<SocketState>, message: WSMessage): void {
    const userId = connection.state?.userId;
    // A frame that crossed our close (the SDK's opening ping meeting a 4409, say) gets no answer:
    // a send after close() throws.
    if (!userId || connection.readyState !== WebSocket.READY_STATE_OPEN) return;
    const read = readClientFrame(message);
    if (!read.ok) {
      this.#refuse(connection, read.code, read.message);
      return;
    }
    const frame = read.frame;
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

  override async onAlarm(): Promise<void> {
    this.#alarm.fired();
    const clock = this.#clock();
    this.#expire(clock);
    this.#tokens.closeExpired(this.getConnections<SocketState>(), clock.now);
    if (this.#pruneAt !== null && this.#pruneAt <= clock.now) {
      this.#storage.pruneEnded(clock.now);
      const oldest = this.#storage.oldestEndedAt();
      this.#pruneAt = oldest === null ? null : oldest + PRUNE_AFTER_MS;
    }
    this.#peers.retryIfDue(clock.now);
    // Outcomes nobody came back for within the grace: the user is free to join again.
    for (const e of this.#owed.expire(clock.now)) this.#registry.release(e.userId, e.requestId, e.recent);
    const setupCheckAt = this.#setups.checkAt;
    if (setupCheckAt !== null && setupCheckAt <= clock.now) this.#setups.resume(this.#state.matches.values());
    this.#reschedule();
    const due = this.#outbox.dueAt;
    if (due !== null && due <= clock.now) {
      await this.#outbox.deliver();
      this.#reschedule();
    }
  }

  // --- RPC for the router and the user registry ------------------------------------------------

  /** Whether the user has a live request here, or is joining right now (see RegistryShard). */
  holdsLiveRequest(userId: string): boolean {
    // Due deadlines first: a request whose time is up must not count, even before its alarm runs.
    const clock = this.#clock();
    this.#expire(clock);
    return (
      this.#gate.holds(userId) ||
      bucket.ownRequestOf(this.#state, userId) !== undefined ||
      // Not queued anywhere again while a match that stands is owed to them here.
      this.#owed.engaging(userId, clock.now) !== undefined
    );
  }

  /**
   * Another bucket's connect found the user engaged here: if that is an outcome owed to them,
   * it is handed over (and counts as delivered) so that connect can answer with it.
   */
  takeOwedOutcome(userId: string): Answer | null {
    const now = Date.now();
    const owed = this.#owed.engaging(userId, now);
    return owed ? this.#delivered(this.#owed.take(userId, now, owed.requestId)!) : null;
  }

  /** `POST /request`: create the user's request here, or return the live one. */
  async createRequest(userId: string, wish: JoinWish): Promise<Admission> {
    const limited = this.#gate.count(userId, Date.now());
    if (limited) return limited;
    this.#expire(this.#clock());
    if (this.#owed.engaging(userId, Date.now())) return matchOwed();
    const admitted = await this.#admit(userId, wish);
    this.#reschedule();
    if (!admitted.ok) return admitted;
    return { ok: true, request: this.#viewOf(admitted.requestId)!, created: admitted.created };
  }

  /** The user's block list changed (their registry shard calls): their request here follows it. */
  setBlocked(userId: string, blocked: string[]): boolean {
    const clock = this.#clock();
    this.#expire(clock);
    const joining = this.#gate.updateBlocked(userId, blocked);
    const outcome = bucket.setBlocked(this.#state, clock, userId, blocked);
    this.#run(outcome.step);
    return joining || outcome.result.ok;
  }

  /** The user's own channel opened or closed (their registry shard calls). */
  async setWatched(userId: string, on: boolean): Promise<void> {
    this.#expire(this.#clock());
    this.#watchers.set(userId, on);
    const live = on ? await this.liveRequest(userId) : null;
    if (live) this.#watchers.send(userId, live);
  }

  /** `GET /request/{id}`: the caller's own request, live or recently ended. */
  async getRequest(userId: string, requestId: string): Promise<{ ok: true; request: RequestView } | Refusal> {
    this.#expire(this.#clock());
    const r = this.#state.requests.get(requestId) ?? this.#storage.findRequest(requestId);
    if (!r || r.home !== null || r.userId !== userId)
      return notFound(`No request ${requestId} of yours is known.`);
    return { ok: true, request: (await this.#viewWithMatch(requestId))! };
  }

  /** `GET /me/request`: the user's live request here, if any. */
  async liveRequest(userId: string): Promise<RequestView | null> {
    this.#expire(this.#clock());
    const r = bucket.ownRequestOf(this.#state, userId);
    return r ? this.#viewWithMatch(r.id) : null;
  }

  /** `DELETE /request/{id}`. */
  cancelRequest(userId: string, requestId: string): { ok: true } | Refusal {
    const clock = this.#clock();
    this.#expire(clock);
    const live = bucket.ownRequestOf(this.#state, userId);
    if (live?.id === requestId) {
      this.#run(bucket.leave(this.#state, clock, userId).step);
      return { ok: true };
    }
    const ended = this.#storage.findRequest(requestId);
    if (!ended || ended.userId !== userId) return notFound(`No request ${requestId} of yours is known.`);
    if (ended.status === "CANCELLED") return { ok: true };
    return {
      ok: false,
      status: 409,
      code: ended.status === "CONFIRMED" ? "already_confirmed" : "request_ended",
      message: `The request is already ${ended.status.toLowerCase().replace("_", " ")}; there is nothing to cancel.`,
    };
  }

  /**
   * `POST /confirm`: confirm or decline a proposed match over HTTP. A request paired in another
   * bucket is answered there (`viaGuest` asks that bucket about its guest entry).
   */
  async respond(userId: string, matchId: string, confirmed: boolean, viaGuest = false): Promise<Responded> {
    const clock = this.#clock();
    this.#expire(clock);
    const live = viaGuest
      ? bucket.liveRequestOf(this.#state, userId)
      : bucket.ownRequestOf(this.#state, userId);
    if (live?.matchId !== matchId) return this.#lateAnswer(userId, matchId, confirmed, live, viaGuest);
    const requestId = live.id;
    if (live.away) {
      const there = await this.#peers.stub(live.away.room).respond(userId, matchId, confirmed, true);
      if (!there.ok) return there;
      return { ok: true, state: there.state, view: (await this.#viewWithMatch(requestId))! };
    }
    if (!confirmed) {
      this.#run(bucket.decline(this.#state, clock, userId, matchId).step);
      return { ok: true, state: "declined", view: this.#viewOf(requestId)! };
    }
    const outcome = bucket.confirm(this.#state, clock, userId, matchId);
    this.#run(outcome.step);
    if (!outcome.result.ok)
      return { ok: false, status: 404, code: outcome.result.code, message: outcome.result.message };
    // Never "forwarded" here: a request held elsewhere was answered there above.
    const state = outcome.result.state === "forwarded" ? "waiting_for_partner" : outcome.result.state;
    return { ok: true, state, view: this.#viewOf(requestId)! };
  }

  /**
   * An answer to a match no longer pending for this user here. A match made in a guest bucket
   * is stored there, so that bucket answers: the request paired in it names the room, and a
   * request back in the queue since waits in that room too.
   */
  async #lateAnswer(
    userId: string,
    matchId: string,
    confirmed: boolean,
    live: MatchRequest | undefined,
    viaGuest: boolean,
  ): Promise<Responded> {
    const here = this.lateAnswer(userId, matchId, confirmed);
    if (here.ok || here.status !== 404 || viaGuest) return here;
    const paired = live ?? this.#storage.requestPairedIn(userId, matchId);
    const rooms = new Set([paired?.room, ...(paired?.also ?? [])]);
    rooms.delete(roomName(this.bucket));
    for (const room of rooms) {
      if (!room) continue;
      const there = await this.#peers.stub(room).lateAnswer(userId, matchId, confirmed);
      if (there.ok) return { ...there, view: (await this.#viewWithMatch(paired!.id)) ?? there.view };
      if (there.status !== 404) return there;
    }
    return here;
  }

  // --- RPC between the buckets a flexible request waits in (`handover.ts`) ----------------------

  /**
   * A late answer to a match made here (the home's, or `POST /confirm`'s own). Confirming a match
   * that is ready answers it as ready again, so a client that was told 202 may ask once more for
   * the session's ids; anything else is refused with the reason (409 over, 410 window passed).
   */
  lateAnswer(userId: string, matchId: string, confirmed: boolean): Responded {
    const m = this.#state.matches.get(matchId) ?? this.#storage.findMatch(matchId);
    const ready = confirmed && m?.status === "confirmed" && m.users.includes(userId);
    const r = ready ? this.#storage.requestPairedIn(userId, matchId) : undefined;
    if (r) return { ok: true, state: "ready", view: this.#viewOf(r.id)! };
    return whyNotConfirmable(m, userId, matchId);
  }

  /** Messages from another bucket of the tenant, in the order it wrote them. */
  peer(from: string, messages: PeerMessage[]): void {
    for (const message of messages) {
      const clock = this.#clock();
      this.#expire(clock);
      this.#run(handover.receive(this.#state, clock, from, message));
    }
  }

  /** A guest bucket asks to pair one of the requests made here; granted at most once. */
  handOver(from: string, requestId: string, pairId: string): HandOverAnswer {
    const clock = this.#clock();
    this.#expire(clock);
    const out = handover.handOver(this.#state, clock, from, requestId, pairId);
    // Stored before the answer leaves: the output gate holds it until the write is durable.
    this.#run(out.step);
    return out.result;
  }

  /** A match made here, for the home of one of its requests (its HTTP view). */
  matchFor(userId: string, matchId: string): Match | null {
    const m = this.#state.matches.get(matchId) ?? this.#storage.findMatch(matchId);
    return m?.users.includes(userId) ? m : null;
  }

  /** `GET /queues/{difficulty}/{topic}`. */
  queueFigures(): QueueFigures {
    const clock = this.#clock();
    this.#expire(clock);
    return {
      difficulty: this.bucket.difficulty,
      topic: this.bucket.topic,
      waiting: this.#state.queue.length,
      p50WaitMs: this.#state.stats.percentile(50),
      p90WaitMs: this.#state.stats.percentile(90),
      matchedLastHour: this.#storage.matchedSince(clock.now - 3_600_000),
    };
  }

  // --- the shell around the core ---------------------------------------------------------------

  /**
   * Create or resume the user's request. A new one needs a claim in the registry first (one live
   * request across all buckets, `JoinGate`); a request is never created without one.
   */
  async #admit(userId: string, wish: JoinWish): Promise<Admitted> {
    for (;;) {
      const refused = await this.#gate.clear(userId);
      if (refused) return refused;
      const clock = this.#clock();
      this.#expire(clock);
      const live = bucket.ownRequestOf(this.#state, userId) !== undefined;
      const grant = live ? undefined : this.#gate.take(userId);
      // Engaged by a match owed to them (it stood while this join was on its way).
      if (!live && !grant && this.#owed.engaging(userId, clock.now)) return matchOwed();
      // Neither live nor claimed: another join used the claim and its request ended since.
      if (!live && !grant) continue;
      if (grant) this.#watchers.granted(userId, grant.watched);
      const joined = bucket.join(
        this.#state,
        { now: clock.now, newId: (p) => (p === "req" && grant ? grant.requestId : clock.newId(p)) },
        userId,
        { ...wish, blocked: grant?.blocked ?? [], recent: grant?.recent ?? {} },
      );
      this.#run(joined.step);
      return { ok: true, requestId: joined.result.request.id, created: !joined.result.resumed };
    }
  }

  /**
   * A connect answered from what happened before rather than by a live request: the request
   * `resume` names ended (its last words; 4404 if it is not the caller's), or an ended request's
   * outcome is owed to the user. Null when the connect goes on to a live or new request.
   */
  async #answerFromBefore(userId: string, resume: string | null): Promise<Answer | undefined> {
    const clock = this.#clock();
    this.#expire(clock);
    const live = bucket.ownRequestOf(this.#state, userId);
    if (resume !== null && live?.id !== resume) {
      const r = this.#state.requests.get(resume) ?? this.#storage.findRequest(resume);
      if (!r || r.userId !== userId || r.home !== null) {
        return {
          frames: [
            {
              type: "error",
              code: "request_not_found",
              message: `No request ${resume} of yours is known here.`,
            },
          ],
          close: { code: CloseCode.requestNotFound, reason: "request_not_found" },
        };
      }
      if (r.endedAt !== null) {
        const owed = this.#owed.take(userId, clock.now, r.id);
        if (owed?.close) return this.#delivered(owed);
        return lastWords(r, await this.#matchOf(r), parseRoomName(r.room ?? "") ?? this.bucket);
      }
    }
    // A live request (made since, over HTTP) supersedes what was owed of an older one.
    const owed = live ? undefined : this.#owed.outcomeOf(userId, clock.now);
    return owed ? this.#delivered(this.#owed.take(userId, clock.now, owed.requestId)!) : undefined;
  }

  /** An ended request's owed outcome was handed out: a claim it kept can go now. */
  #delivered(owed: Owed): Answer {
    if (engages(owed, owed.until - 1)) this.#registry.release(owed.userId, owed.requestId, owed.recent);
    this.#reschedule();
    return { frames: owed.frames, close: owed.close ?? { code: CloseCode.normal, reason: "ended" } };
  }

  /** The outcome owed to the user by the bucket `actorName`, taken from it; null if none. */
  async #owedAt(actorName: string, userId: string): Promise<Answer | null> {
    try {
      return (await bucketActor(this.env, actorName).takeOwedOutcome(userId)) as Answer | null;
    } catch {
      return null;
    }
  }

  /** The match a request (made here) was paired in, from whichever bucket paired it. */
  async #matchOf(r: MatchRequest): Promise<Match | undefined> {
    if (!r.matchId) return undefined;
    if (r.room === null || r.room === roomName(this.bucket)) {
      return this.#state.matches.get(r.matchId) ?? this.#storage.findMatch(r.matchId);
    }
    return ((await this.#peers.stub(r.room).matchFor(r.userId, r.matchId)) as Match | null) ?? undefined;
  }

  /** The view of a request made here, with its match fetched from the bucket that paired it. */
  async #viewWithMatch(requestId: string): Promise<RequestView | null> {
    const r = this.#state.requests.get(requestId) ?? this.#storage.findRequest(requestId);
    if (!r?.matchId || r.room === null || r.room === roomName(this.bucket)) return this.#viewOf(requestId);
    // RPC hands tuples back as plain arrays; the fields are the same.
    const m = (await this.#peers.stub(r.room).matchFor(r.userId, r.matchId)) as Match | null;
    return requestView(this.bucket, r, m ?? undefined, null);
  }

  #viewOf(requestId: string): RequestView | null {
    const r = this.#state.requests.get(requestId) ?? this.#storage.findRequest(requestId);
    if (!r) return null;
    const m = r.matchId
      ? (this.#state.matches.get(r.matchId) ?? this.#storage.findMatch(r.matchId))
      : undefined;
    return requestView(this.bucket, r, m, r.status === "PENDING" ? queuePosition(this.#state, r.id) : null);
  }

  #clock(): Clock {
    return { now: Date.now(), newId: (prefix) => `${prefix}_${crypto.randomUUID()}` };
  }

  /** Apply due deadlines first, so a late alarm never lets a stale action through. */
  #expire(clock: Clock): void {
    this.#run(bucket.expireDue(this.#state, clock).step);
  }

  /** Persist a Step, then perform its effects, then move the alarm to the next deadline. */
  #run(step: Step): void {
    if (!step.wroteAnything && step.effects.length === 0 && step.tallies.length === 0) return;
    // Guests follow each request's availability; their messages are stored with the step.
    handover.syncGuests(this.#state, step);
    this.#storage.write(step, this.#outbox.recording);
    if (this.#outbox.recording && step.wroteAnything) this.#outbox.wrote();
    const now = Date.now();
    const missed = noteMissed(
      this.#owed.entries,
      step.effects,
      (userId) => !this.#connected(userId),
      (userId) => bucket.ownRequestOf(this.#state, userId) ?? endedOwnRequestOf(step, userId),
      now,
      this.#config.RECONNECT_GRACE_SECONDS * 1000,
    );
    if (missed.length > 0) this.#owed.stored(missed);
    // A refused hand-over writes nothing but is counted.
    if (step.wroteAnything || step.tallies.length > 0) this.#reporter.changed(step.tallies);
    this.#watchers.changed(step.requests.values(), (id) => this.#viewWithMatch(id));
    for (const effect of step.effects) {
      if (effect.kind === "send") this.#sendTo(effect.userId, effect.frame);
      else if (effect.kind === "close") {
        for (const c of this.getConnections(effect.userId)) c.close(effect.code, effect.reason);
      } else if (effect.kind === "setup") this.#setups.start(effect.match);
    }
    this.#peers.perform(step.effects);
    for (const r of step.requests.values()) {
      // A guest entry holds no claim: its home's request does.
      if (r.endedAt === null || r.home !== null) continue;
      this.#pruneAt ??= r.endedAt + PRUNE_AFTER_MS;
      // An outcome still owed keeps the claim: the user is engaged until it is delivered.
      if (this.#owed.engages(r.userId, r.id, now)) continue;
      this.#registry.release(r.userId, r.id, r.recent);
    }
    if (step.wroteAnything || missed.length > 0) this.#reschedule();
  }

  /** Whether the user has a socket (or an SSE stream's socket) open here. */
  #connected(userId: string): boolean {
    for (const c of this.getConnections(userId)) if (c.readyState === WebSocket.READY_STATE_OPEN) return true;
    return false;
  }

  #sendTo(userId: string, frame: ServerFrame): void {
    const text = JSON.stringify(frame);
    for (const c of this.getConnections(userId)) {
      try {
        c.send(text);
      } catch {
        // Closing under us (the client left, or an earlier effect of this step closed it): the
        // frame is moot, and the request's state is already persisted either way.
      }
    }
  }

  #refuse(connection: Connection, code: ErrorCode, message: string): void {
    try {
      connection.send(JSON.stringify({ type: "error", code, message } satisfies ServerFrame));
    } catch {
      // Closed under us (another tab took over): there is no one to tell.
    }
  }

  #reschedule(): void {
    const candidates = [
      bucket.nextDeadline(this.#state),
      this.#pruneAt,
      this.#tokens.at,
      this.#outbox.dueAt,
      // A match that is setting up has no deadline of its own: only this wakes a lost setup.
      this.#setups.checkAt,
      this.#peers.retryAt,
      this.#owed.nextUntil,
    ];
    this.#alarm.aim(candidates);
  }
}

/** The user's own request that `step` ended, if any (its frames are about it). */
function endedOwnRequestOf(step: Step, userId: string): MatchRequest | undefined {
  for (const r of step.requests.values())
    if (r.userId === userId && r.home === null && r.endedAt !== null) return r;
  return undefined;
}

/** A join refused because a match that stands is owed to the user (they get it on connect). */
function matchOwed(): Refusal {
  return {
    ok: false,
    status: 409,
    code: "already_queued",
    message: "A match of yours is ready and you have not been told yet; connect to its bucket to get it.",
  };
}

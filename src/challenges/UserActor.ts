import { type Connection, type ConnectionContext, Server, type WSMessage } from "partyserver";
import { registryShard, userActor } from "../actors.ts";
import { TOKEN_EXP_HEADER, USER_HEADER } from "../bucket/forwarding.ts";
import { OutboxDelivery } from "../bucket/OutboxDelivery.ts";
import { SessionSetups, type SetupAnswer, sessionServices } from "../bucket/SessionSetups.ts";
import { type Config, configFromEnv } from "../config.ts";
import type { Env } from "../env.ts";
import { partOf } from "../matching/describe.ts";
import { JoinRate } from "../matching/joinRate.ts";
import { OneAlarm } from "../OneAlarm.ts";
import type { AcceptChallengeAnswer, ChallengeView, UserFrame } from "../protocol/challenges.ts";
import { challengeAccepted, requestUpdate, userClientFrameSchema } from "../protocol/challenges.ts";
import { CloseCode } from "../protocol/frames.ts";
import type { RequestView } from "../protocol/http.ts";
import type { Bucket, Role } from "../protocol/values.ts";
import { RegistryClient } from "../registry/RegistryClient.ts";
import { parseUserActorName } from "../tenancy.ts";
import { ChallengeStorage, ENDED_CHALLENGE_RETENTION_MS, type Side } from "./ChallengeStorage.ts";
import {
  acceptedMatch,
  type ChallengeSetup,
  challengeView,
  matchFor,
  recordsOf,
  settled,
} from "./challengeMatch.ts";
import {
  blockedEitherWay,
  CHALLENGE_WINDOW_SECONDS,
  CHALLENGES_PER_WINDOW,
  type Challenge,
  type ChallengeAction,
  type ChallengeRefusal,
  challengeRefusal,
  dueToExpire,
  effectiveStatus,
  ended,
  mayAct,
  newChallenge,
  openBetween,
  openNewestFirst,
  reopened,
  tooManyChallenges,
} from "./challengeRules.ts";
import { OneAtATime } from "./OneAtATime.ts";
import { claimPair, pausedForMaintenance } from "./pairClaims.ts";
import { sendOn, type TabState, UserTabs } from "./UserTabs.ts";

/** A refusal the router answers as an HTTP error. */
export type ChallengeFailure = ChallengeRefusal;

const unavailable = (message: string): ChallengeFailure => challengeRefusal(503, "unavailable", message, 1);

/**
 * One per user (`userActorName`): the user's own channel (`/parties/user/{userId}`, hibernating,
 * any number of tabs), and the challenges they take part in.
 *
 * A challenge is owned by its opponent's object: accept, decline, expiry (this object's alarm)
 * and the challenger's cancel are all decided here, one at a time, so they cannot race each
 * other; an action that must wait for other objects (accepting claims both users in the
 * registry) holds the challenge until it is decided, and the others wait for it, then see what it
 * decided. The challenger's object keeps an index of the challenges it sent, told of every change
 * by the owner, so `GET /challenges/outgoing` is one object's read.
 *
 * An accepted challenge's match holds both users' live-request claims (named by this object)
 * while its session is set up, exactly as a bucket's request does, and answers the registry's
 * `holdsLiveRequest` for them; its records leave through this object's own outbox.
 */
export class UserActor extends Server<Env> {
  static override options = { hibernate: true };

  readonly #config: Config;
  readonly #tenant: string;
  readonly #userId: string;
  readonly #storage: ChallengeStorage;
  readonly #registry: RegistryClient;
  readonly #outbox: OutboxDelivery;
  readonly #setups: SessionSetups;
  /** Challenges an action holds right now; others wait for it (see the class comment). */
  readonly #actions = new OneAtATime();
  readonly #tabs: UserTabs;
  /** Users whose claim is out from here, for an accept under way. */
  readonly #claiming = new Set<string>();
  /** Accept calls waiting on their match's setup, by match id. */
  readonly #waiting = new Map<string, (answer: SetupAnswer) => void>();
  /** Opponents a new challenge is being sent to right now (one at a time per pair). */
  readonly #sending = new Set<string>();
  /** Challenges this user sent lately; counted here, where every create passes first. */
  readonly #sent = new JoinRate(CHALLENGES_PER_WINDOW, CHALLENGE_WINDOW_SECONDS);
  /** The channel's open/closed word to the registry, one after the other. */
  #watchSaid: Promise<unknown> = Promise.resolve();
  readonly #alarm: OneAlarm;

  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env);
    this.#alarm = new OneAlarm(ctx.storage);
    const loaded = configFromEnv(env);
    if (!loaded.ok) throw new Error(`Invalid configuration: ${loaded.problems.map((p) => p.key).join(", ")}`);
    this.#config = loaded.config;
    const named = parseUserActorName(this.name);
    if (!named) throw new Error(`UserActor addressed by a name userActorName did not make: ${this.name}`);
    this.#tenant = named.tenant;
    this.#userId = named.userId;
    this.#storage = new ChallengeStorage(ctx.storage);
    this.#tabs = new UserTabs(() => this.getConnections<TabState>());
    this.#registry = new RegistryClient(env, this.#tenant, this.name, this.#config.REGISTRY_SHARDS);
    this.#outbox = new OutboxDelivery(
      this.#storage.outbox,
      this.#tenant,
      null,
      this.#config.DATABASE_URL,
      this.#config.NEON_WS_PROXY,
    );
    this.#setups = new SessionSetups(
      sessionServices(this, this.#config),
      this.#tenant,
      (match) => this.#storage.setup(match.id)?.bucket ?? { difficulty: "easy", topic: "unknown" },
      (matchId, answer) => this.#setupAnswered(matchId, answer),
    );
    ctx.blockConcurrencyWhile(async () => {
      await this.#alarm.load();
      this.#reschedule();
    });
    // A setup lost with the previous instance is asked for again (same idempotency keys).
    this.#setups.resume(this.#storage.setups().map((s) => s.match));
  }

  // --- the channel ----------------------------------------------------------------------------

  override onConnect(connection: Connection<TabState>, ctx: ConnectionContext): void {
    // The router lets only the room's own user through; this is the last line, not the check.
    if (ctx.request.headers.get(USER_HEADER) !== this.#userId) {
      connection.close(CloseCode.forbidden, "forbidden");
      return;
    }
    const first = this.#tabs.opened(connection, Number(ctx.request.headers.get(TOKEN_EXP_HEADER) ?? 0));
    this.#reschedule();
    if (first) this.#sayWatched(true);
  }

  override onMessage(connection: Connection, message: WSMessage): void {
    if (typeof message !== "string" || message.length > 1024) return;
    let json: unknown;
    try {
      json = JSON.parse(message);
    } catch {
      return;
    }
    if (userClientFrameSchema.safeParse(json).success) sendOn(connection, { type: "pong" });
  }

  override onClose(): void {
    if (this.#tabs.closed()) this.#sayWatched(false);
  }

  /** Whether the user's channel is open tells the registry whether their bucket sends updates. */
  #sayWatched(on: boolean): void {
    const shard = registryShard(this.env, this.#tenant, this.#userId, this.#config.REGISTRY_SHARDS);
    this.#watchSaid = this.#watchSaid.then(() => shard.setWatched(this.#userId, on)).catch(() => {});
  }

  // --- RPC: the user's own calls (the router's) -----------------------------------------------

  /** `POST /challenges`: this user challenges `opponentId`. */
  async create(wish: {
    opponentId: string;
    bucket: Bucket;
    role: Role;
  }): Promise<{ ok: true; challenge: ChallengeView } | ChallengeFailure> {
    const made = newChallenge(
      { challengerId: this.#userId, ...wish },
      Date.now(),
      this.#config.CHALLENGE_TTL_SECONDS * 1000,
      `chl_${crypto.randomUUID()}`,
    );
    if (!made.ok) return made;
    if (!this.#sent.allow(this.#userId, Date.now())) return tooManyChallenges();
    const c = made.challenge;
    let standing: Array<{ blocked: string[]; engaged: boolean; paused: boolean }>;
    try {
      standing = await Promise.all(
        [c.challengerId, c.opponentId].map((u) =>
          registryShard(this.env, this.#tenant, u, this.#config.REGISTRY_SHARDS).standing(u),
        ),
      );
    } catch {
      return unavailable("The challenge could not be sent just now; try again.");
    }
    const [mine, theirs] = standing as [(typeof standing)[0], (typeof standing)[0]];
    if (mine.paused) return pausedForMaintenance();
    if (blockedEitherWay({ userId: c.challengerId, ...mine }, { userId: c.opponentId, ...theirs })) {
      return challengeRefusal(403, "blocked", "One of you has blocked the other.");
    }
    const now = Date.now();
    const between = [
      ...this.#storage.pending("outgoing", c.opponentId),
      ...this.#storage.pending("incoming", c.opponentId),
    ];
    if (this.#sending.has(c.opponentId) || openBetween(between, c.challengerId, c.opponentId, now)) {
      return challengeRefusal(409, "challenge_exists", "A pending challenge between you two exists already.");
    }
    if (mine.engaged || theirs.engaged) {
      const who = mine.engaged ? "You have" : `${c.opponentId} has`;
      return challengeRefusal(409, "already_queued", `${who} a live request or match; it must end first.`);
    }
    this.#sending.add(c.opponentId);
    // The index first: a challenge the opponent got is never one its challenger cannot see or cancel.
    this.#storage.save("outgoing", c);
    try {
      const received = await userActor(this.env, this.#tenant, c.opponentId).receive(c);
      if (!received.ok) this.#storage.forget(c.id);
      return received.ok ? { ok: true, challenge: challengeView(c) } : received;
    } catch {
      // It may or may not have arrived: the index keeps it, asking the owner answers which.
      return unavailable("The challenge could not be delivered just now; try again.");
    } finally {
      this.#sending.delete(c.opponentId);
    }
  }

  /** `GET /challenges/incoming` and `/outgoing`: pending ones, newest first. */
  list(side: Side): ChallengeView[] {
    return openNewestFirst(this.#storage.pending(side), Date.now()).map((c) => challengeView(c));
  }

  /** `GET /challenges/{id}`: either party. The owner's word for a sent one, the index's if it is unreachable. */
  async view(id: string): Promise<{ ok: true; challenge: ChallengeView } | ChallengeFailure> {
    const found = this.#storage.find(id);
    if (!found) return challengeRefusal(404, "not_found", "No such challenge of yours.");
    if (found.side === "outgoing") {
      const owned = await userActor(this.env, this.#tenant, found.challenge.opponentId)
        .viewOwned(id, this.#userId)
        .catch(() => null);
      if (owned?.ok) return owned;
    }
    return {
      ok: true,
      challenge: challengeView(found.challenge, effectiveStatus(found.challenge, Date.now())),
    };
  }

  /** `POST /challenges/{id}/accept`: the opponent's; answers after the session is set up. */
  async accept(id: string): Promise<{ ok: true; answer: AcceptChallengeAnswer } | ChallengeFailure> {
    await this.#actions.idle(id);
    const found = this.#storage.find(id);
    const c = found?.challenge;
    const allowed = mayAct(c, "accept", this.#userId, Date.now());
    if (!allowed.ok || !c)
      return allowed.ok ? challengeRefusal(404, "not_found", "No such challenge of yours.") : allowed;
    const setup = await this.#actions.hold(
      id,
      () => this.#claimBoth(c),
      () => this.#reschedule(),
    );
    if (!setup.ok) return setup;
    const answer = await new Promise<SetupAnswer>((resolve) => {
      this.#waiting.set(setup.setup.match.id, resolve);
      this.#setups.start(setup.setup.match);
      this.#reschedule();
    });
    if (!answer.ok) {
      const why = "The session could not be set up; the challenge waits for your answer again.";
      return challengeRefusal(503, "setup_failed", why, 1);
    }
    const { match } = setup.setup;
    return {
      ok: true,
      answer: {
        match_id: match.id,
        partner_id: c.challengerId,
        question_id: answer.ids.questionId,
        collaboration_session_id: answer.ids.collaborationSessionId,
        role: partOf(match, this.#userId),
      },
    };
  }

  /** `POST /challenges/{id}/decline`: the opponent's. */
  async decline(id: string): Promise<{ ok: true; challenge: ChallengeView } | ChallengeFailure> {
    return this.#end(id, "decline", this.#userId);
  }

  /** `DELETE /challenges/{id}`: the challenger's, decided by the owner (the opponent's object). */
  async cancel(id: string): Promise<{ ok: true; challenge: ChallengeView } | ChallengeFailure> {
    const found = this.#storage.find(id);
    if (found?.side !== "outgoing") return this.#end(id, "cancel", this.#userId);
    try {
      return await userActor(this.env, this.#tenant, found.challenge.opponentId).cancelOwned(
        id,
        this.#userId,
      );
    } catch {
      return unavailable("The challenge could not be cancelled just now; try again.");
    }
  }

  /**
   * This user blocked `otherId`: pending challenges between them end as if answered, one
   * received declined, one sent cancelled (blocks stop challenges both ways).
   */
  async blocked(otherId: string): Promise<void> {
    const ends = [
      ...this.#storage.pending("incoming", otherId).map((c) => this.#end(c.id, "decline", this.#userId)),
      ...this.#storage.pending("outgoing", otherId).map((c) => this.cancel(c.id)),
    ];
    await Promise.all(ends);
  }

  // --- RPC: other objects ---------------------------------------------------------------------

  /** The challenger's object sends us a challenge to own. */
  receive(c: Challenge): { ok: true } | ChallengeFailure {
    if (c.opponentId !== this.#userId) return challengeRefusal(404, "not_found", "No such user here.");
    const between = [
      ...this.#storage.pending("incoming", c.challengerId),
      ...this.#storage.pending("outgoing", c.challengerId),
    ];
    if (this.#sending.has(c.challengerId) || openBetween(between, c.challengerId, c.opponentId, Date.now())) {
      return challengeRefusal(409, "challenge_exists", "A pending challenge between you two exists already.");
    }
    this.#storage.save("incoming", c);
    this.#reschedule();
    this.#tabs.push({ type: "challenge_received", challenge: challengeView(c) });
    return { ok: true };
  }

  /** The challenger asks for the owned challenge (`GET /challenges/{id}`). */
  viewOwned(id: string, callerId: string): { ok: true; challenge: ChallengeView } | ChallengeFailure {
    const found = this.#storage.find(id);
    if (found?.side !== "incoming" || found.challenge.challengerId !== callerId) {
      return challengeRefusal(404, "not_found", "No such challenge of yours.");
    }
    return {
      ok: true,
      challenge: challengeView(found.challenge, effectiveStatus(found.challenge, Date.now())),
    };
  }

  cancelOwned(
    id: string,
    callerId: string,
  ): Promise<{ ok: true; challenge: ChallengeView } | ChallengeFailure> {
    return this.#end(id, "cancel", callerId);
  }

  /** The owner of a challenge we sent tells us how it ended: keep the index, tell our tabs. */
  sentChanged(c: Challenge, frame: UserFrame): void {
    const found = this.#storage.find(c.id);
    if (found?.side === "outgoing") this.#storage.save("outgoing", c);
    this.#tabs.push(frame);
  }

  /** The registry checks a claim named by this object (a challenge's match being set up). */
  holdsLiveRequest(userId: string): boolean {
    return this.#claiming.has(userId) || this.#storage.setups().some((s) => s.match.users.includes(userId));
  }

  /** A bucket's `request_update` for this user's channel. */
  requestUpdate(userId: string, request: RequestView): void {
    if (userId === this.#userId) this.#tabs.push(requestUpdate(request));
  }

  override async onAlarm(): Promise<void> {
    this.#alarm.fired();
    const now = Date.now();
    const tokenExpiryAt = this.#tabs.tokenExpiryAt;
    if (tokenExpiryAt !== null && tokenExpiryAt <= now) this.#tabs.closeExpired(now);
    for (const c of dueToExpire(this.#storage.pending("incoming"), now, this.#actions.held())) {
      void this.#decided(ended(c, "EXPIRED", c.expiresAt), "challenge_expired");
    }
    const oldest = this.#storage.oldestEndedAt();
    if (oldest !== null && oldest + ENDED_CHALLENGE_RETENTION_MS <= now) this.#storage.pruneEnded(now);
    const checkAt = this.#setups.checkAt;
    if (checkAt !== null && checkAt <= now) this.#setups.resume(this.#storage.setups().map((s) => s.match));
    this.#reschedule();
    const due = this.#outbox.dueAt;
    if (due !== null && due <= now) {
      await this.#outbox.deliver();
      this.#reschedule();
    }
  }

  // --- the shell around the rules -------------------------------------------------------------

  /**
   * Claim both users' one live request for the challenge's match, as a bucket claims for a
   * request; granted, the challenge is accepted and its match starts setting up.
   */
  async #claimBoth(c: Challenge): Promise<{ ok: true; setup: ChallengeSetup } | ChallengeFailure> {
    const users: [string, string] = [c.challengerId, c.opponentId];
    // A claim for a user this object already holds would look stale to the shard and be granted.
    if (users.some((u) => this.holdsLiveRequest(u))) {
      return challengeRefusal(409, "already_queued", "One of you is already in a match; it must end first.");
    }
    for (const u of users) this.#claiming.add(u);
    const claimed = await claimPair(this.#registry, users).finally(() => {
      for (const u of users) this.#claiming.delete(u);
    });
    if (!claimed.ok) return claimed;
    const [challenger, opponent] = claimed.grants;
    if (blockedEitherWay({ userId: c.challengerId, ...challenger }, { userId: c.opponentId, ...opponent })) {
      for (const [i, u] of users.entries()) this.#registry.release(u, claimed.requestIds[i]!);
      return challengeRefusal(403, "blocked", "One of you has blocked the other.");
    }
    const now = Date.now();
    const [challengerRequest, opponentRequest] = claimed.requestIds;
    const ids = { matchId: `mat_${crypto.randomUUID()}`, challengerRequest, opponentRequest };
    const setup = acceptedMatch(c, ids, now);
    this.#storage.save("incoming", ended(c, "ACCEPTED", now, setup.match.id), { setup });
    return { ok: true, setup };
  }

  /** The services answered for a challenge's match: settle it, free both claims, tell everyone. */
  #setupAnswered(matchId: string, answer: SetupAnswer): void {
    const setup = this.#storage.setup(matchId);
    const found = setup && this.#storage.find(setup.challengeId);
    if (!setup || !found) return;
    const now = Date.now();
    const match = settled(setup, answer, now);
    const records = this.#outbox.recording ? recordsOf(setup, match) : [];
    const ok = match.status === "confirmed";
    const c = ok ? found.challenge : reopened(found.challenge, now);
    this.#storage.save("incoming", c, { finishedSetup: matchId, records });
    if (records.length > 0) this.#outbox.wrote();
    for (const [i, userId] of match.users.entries()) {
      // As a bucket's confirmed match: the partner is kept for the rematch cooldown.
      this.#registry.release(userId, match.requests[i]!, ok ? { [match.users[1 - i]!]: now } : undefined);
    }
    let told = Promise.resolve();
    if (ok) {
      const view = challengeView(c);
      this.#tabs.push(challengeAccepted(view, matchFor(setup, match, this.#userId)));
      told = this.#tellChallenger(c, challengeAccepted(view, matchFor(setup, match, c.challengerId)));
    } else if (c.status === "EXPIRED") {
      told = this.#decided(c, "challenge_expired");
    }
    this.#reschedule();
    // The accept answers once the challenger's index knows: their next read agrees with ours.
    const waiter = this.#waiting.get(matchId);
    this.#waiting.delete(matchId);
    void told.then(() => waiter?.(answer));
  }

  /** Decline or cancel, decided here (the owner) once no other action holds the challenge. */
  async #end(
    id: string,
    action: Exclude<ChallengeAction, "accept">,
    callerId: string,
  ): Promise<{ ok: true; challenge: ChallengeView } | ChallengeFailure> {
    await this.#actions.idle(id);
    const found = this.#storage.find(id);
    const allowed = mayAct(found?.challenge, action, callerId, Date.now());
    if (!allowed.ok) return allowed;
    const c = ended(found!.challenge, action === "decline" ? "DECLINED" : "CANCELLED", Date.now());
    const told = this.#decided(c, action === "decline" ? "challenge_declined" : "challenge_cancelled");
    this.#reschedule();
    await told;
    return { ok: true, challenge: challengeView(c) };
  }

  /** Save an owned challenge's end and tell both users' tabs; settles once the challenger's object knows. */
  #decided(
    c: Challenge,
    type: "challenge_declined" | "challenge_cancelled" | "challenge_expired",
  ): Promise<void> {
    this.#storage.save("incoming", c);
    const frame = { type, challenge: challengeView(c) } satisfies UserFrame;
    this.#tabs.push(frame);
    return this.#tellChallenger(c, frame);
  }

  /** Never rejects: a challenger's object that cannot be told is not the caller's failure. */
  #tellChallenger(c: Challenge, frame: UserFrame): Promise<void> {
    return userActor(this.env, this.#tenant, c.challengerId)
      .sentChanged(c, frame)
      .catch(() => {
        // The index then shows it pending until its time is up; `GET /challenges/{id}` asks us.
      });
  }

  #reschedule(): void {
    const candidates = [
      this.#actions.any ? null : this.#storage.nextExpiry(),
      this.#outbox.dueAt,
      this.#setups.checkAt,
      this.#tabs.tokenExpiryAt,
      pruneAt(this.#storage.oldestEndedAt()),
    ];
    this.#alarm.aim(candidates);
  }
}

/** When ended challenges next become old enough to prune. */
function pruneAt(oldestEndedAt: number | null): number | null {
  return oldestEndedAt === null ? null : oldestEndedAt + ENDED_CHALLENGE_RETENTION_MS;
}

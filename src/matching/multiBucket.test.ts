/**
 * Requests waiting in several buckets at once (docs/protocol.md, "waiting in several buckets"), checked against
 * the properties the contract promises rather than a second implementation: several buckets as
 * pure states, joined by a network that delivers messages in order per link but interleaves
 * links, asks and their answers at random, with evictions, timeouts, declines, leaves and
 * disconnects thrown in. After every action and once everything has settled:
 * - nobody is in two live matches, and nobody hears `match_found` while already matched;
 * - every request ends exactly once, and nothing of it waits anywhere afterwards;
 * - at rest, each waiting request waits in every one of its buckets (at its home's epoch) and
 *   nowhere else, no two requests waiting in one bucket are compatible, and each queue is in
 *   creation order.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import fc from "fast-check";
import { defaultSettings, SEC, T0, TestClock } from "../../test/core/testHarness.ts";
import { type ServerFrame, serverFrameSchema } from "../protocol/frames.ts";
import { parseRoomName } from "../protocol/values.ts";
import { compatible } from "./compatibility.ts";
import { available } from "./guestDelivery.ts";
import {
  type AskAnswer,
  handOver,
  handOverAnswered,
  pendingAsks,
  receive,
  releaseUnaskedPairs,
  syncGuests,
} from "./handover.ts";
import type { PeerMessage } from "./peerMessages.ts";
import { type BucketState, createBucketState, restoreBucketState } from "./state.ts";
import type { Step } from "./step.ts";
import * as core from "./transitions.ts";
import type { Match, MatchRequest, Role, Settings } from "./types.ts";

const ROOMS = ["easy.arrays", "medium.arrays", "hard.arrays", "easy.graphs", "medium.graphs", "hard.graphs"];
const USERS = ["u1", "u2", "u3", "u4", "u5"];
const SETTINGS: Settings = { ...defaultSettings, widenAfterMs: 20 * SEC };

type Ask = { from: string; home: string; requestId: string; pairId: string };
type Answer = AskAnswer & { to: string; pairId: string };

const clone = <T>(x: T): T => JSON.parse(JSON.stringify(x)) as T;
const TERMINAL = new Set(["CONFIRMED", "CANCELLED", "TIMED_OUT"]);

class Network {
  readonly clock = new TestClock(T0);
  readonly buckets = new Map<string, BucketState>();
  readonly rows = new Map<string, Map<string, MatchRequest>>();
  readonly matchRows = new Map<string, Map<string, Match>>();
  /** Undelivered messages per link `from>to`, in order (the actor persists them). */
  readonly links = new Map<string, { from: string; to: string; message: PeerMessage }[]>();
  asks: Ask[] = [];
  answers: Answer[] = [];
  /** Answers a held pair has collected so far, per bucket (lost with the instance). */
  collected = new Map<string, Map<string, AskAnswer[]>>();
  /** The asks each held pair made, per bucket (an instance's own bookkeeping). */
  asked = new Map<string, Map<string, Set<string>>>();
  /** The registry: each user's one live request, at its home. */
  readonly claims = new Map<string, { room: string; requestId: string }>();
  readonly frames = new Map<string, ServerFrame[]>();
  /** Per user: the match they are in as far as their frames tell, to catch a second match_found. */
  readonly inMatch = new Map<string, string | null>();
  readonly setups: { room: string; matchId: string }[] = [];
  /** Requests whose user sent `leave`: each must end, wherever its match was. */
  readonly left = new Set<string>();

  readonly settings: Settings;

  constructor(orchestrate = false) {
    this.settings = { ...SETTINGS, orchestrate };
    for (const room of ROOMS) {
      this.buckets.set(room, createBucketState(parseRoomName(room)!, this.settings));
      this.rows.set(room, new Map());
      this.matchRows.set(room, new Map());
      this.collected.set(room, new Map());
      this.asked.set(room, new Map());
    }
  }

  state(room: string): BucketState {
    return this.buckets.get(room)!;
  }

  /** Persist and perform a step of `room`, as BucketActor.#run does. */
  apply(room: string, step: Step): void {
    const s = this.state(room);
    syncGuests(s, step);
    const rows = this.rows.get(room)!;
    for (const r of step.requests.values()) {
      const before = rows.get(r.id);
      // A guest entry that left may be placed again (its request went on at its home).
      if (before && r.home === null && TERMINAL.has(before.status)) {
        assert.equal(r.status, before.status, `${room}: request ${r.id} left ${before.status}`);
      }
      rows.set(r.id, clone(r));
      if (r.home === null && r.endedAt !== null && this.claims.get(r.userId)?.requestId === r.id) {
        this.claims.delete(r.userId);
      }
    }
    for (const m of step.matches.values()) this.matchRows.get(room)!.set(m.id, clone(m));
    for (const e of step.effects) {
      if (e.kind === "send") this.hear(e.userId, e.frame);
      else if (e.kind === "setup") this.setups.push({ room, matchId: e.match.id });
      else if (e.kind === "peer") {
        const key = `${room}>${e.room}`;
        const list = this.links.get(key) ?? [];
        list.push({ from: room, to: e.room, message: clone(e.message) });
        this.links.set(key, list);
      } else if (e.kind === "ask") {
        this.ask({ from: room, home: e.home, requestId: e.requestId, pairId: e.pairId });
      }
    }
  }

  /** The actor asks each home and decides a pair once all its asks are answered. */
  ask(a: Ask): void {
    this.asks.push(a);
    const byPair = this.asked.get(a.from)!;
    (byPair.get(a.pairId) ?? byPair.set(a.pairId, new Set()).get(a.pairId)!).add(a.requestId);
  }

  hear(userId: string, frame: ServerFrame): void {
    const parsed = serverFrameSchema.safeParse(frame);
    assert.ok(parsed.success, `invalid frame ${JSON.stringify(frame)}`);
    (this.frames.get(userId) ?? this.frames.set(userId, []).get(userId)!).push(frame);
    const current = this.inMatch.get(userId) ?? null;
    if (frame.type === "match_found") {
      assert.ok(
        current === null || current === frame.matchId,
        `${userId} heard match_found ${frame.matchId} while in ${current}`,
      );
      this.inMatch.set(userId, frame.matchId);
    } else if (frame.type === "match_cancelled" || frame.type === "match_ready") {
      if (current === frame.matchId) this.inMatch.set(userId, null);
    } else if (frame.type === "timeout" || frame.type === "cancelled") {
      // Leaving during a confirmation ends the user's part in the match with `cancelled`.
      this.inMatch.set(userId, null);
    } else if (frame.type === "queued") {
      assert.equal(current, null, `${userId} heard ${frame.type} while in match ${current}`);
    }
  }

  expire(room: string): void {
    this.apply(room, core.expireDue(this.state(room), this.clock).step);
  }

  join(userId: string, home: string, also: string[], widen: boolean, role: Role = "either"): void {
    const held = this.claims.get(userId);
    if (held && held.room !== home) return; // 409 / 4409: one live request per user
    this.expire(home);
    const s = this.state(home);
    const out = core.join(s, this.clock, userId, {
      role,
      rating: null,
      blocked: [],
      recent: {},
      also: [...new Set(also)].filter((r) => r !== home).slice(0, 3),
      widen,
    });
    if (!held) {
      this.claims.set(userId, { room: home, requestId: out.result.request.id });
      // A new request: whatever match an earlier one was in ended while its socket was gone.
      this.inMatch.set(userId, null);
    }
    this.apply(home, out.step);
  }

  /** A user's command on their home socket. */
  act(userId: string, kind: "confirm" | "decline" | "leave" | "status" | "disconnect"): void {
    const claim = this.claims.get(userId);
    if (!claim) return;
    this.expire(claim.room);
    const s = this.state(claim.room);
    const r = s.requests.get(claim.requestId);
    if (kind === "leave" && r) this.left.add(r.id);
    const matchId = r?.matchId ?? "mat_none0000";
    const out =
      kind === "confirm"
        ? core.confirm(s, this.clock, userId, matchId).step
        : kind === "decline"
          ? core.decline(s, this.clock, userId, matchId).step
          : kind === "leave"
            ? core.leave(s, this.clock, userId).step
            : kind === "status"
              ? core.status(s, userId).step
              : core.disconnect(s, this.clock, userId).step;
    this.apply(claim.room, out);
  }

  reconnect(userId: string): void {
    const claim = this.claims.get(userId);
    if (claim) this.join(userId, claim.room, [], false);
  }

  setupDone(k: number, ok: boolean): void {
    const pending = this.setups.filter(
      ({ room, matchId }) => this.state(room).matches.get(matchId)?.settingUp,
    );
    const it = pending[k % Math.max(1, pending.length)];
    if (!it) return;
    this.expire(it.room);
    const s = this.state(it.room);
    const step = ok
      ? core.setupSucceeded(s, this.clock, it.matchId, { questionId: "q", collaborationSessionId: "c" }).step
      : core.setupFailed(s, this.clock, it.matchId).step;
    this.apply(it.room, step);
  }

  /** Deliver the `k`th pending thing: a link's next message, an ask, or an answer. */
  deliver(k: number): boolean {
    const heads = [...this.links.entries()].filter(([, l]) => l.length > 0);
    const total = heads.length + this.asks.length + this.answers.length;
    if (total === 0) return false;
    let i = k % total;
    if (i < heads.length) {
      const [, list] = heads[i]!;
      this.#receive(list.shift()!);
      return true;
    }
    i -= heads.length;
    if (i < this.asks.length) {
      this.#answer(this.asks.splice(i, 1)[0]!);
      return true;
    }
    i -= this.asks.length;
    this.#hear(this.answers.splice(i, 1)[0]!);
    return true;
  }

  #receive({ from, to, message }: { from: string; to: string; message: PeerMessage }): void {
    this.expire(to);
    this.apply(to, receive(this.state(to), this.clock, from, message));
  }

  /** A home answers an ask; the answer travels back outside the links' order. */
  #answer(ask: Ask): void {
    this.expire(ask.home);
    const out = handOver(this.state(ask.home), this.clock, ask.from, ask.requestId, ask.pairId);
    this.apply(ask.home, out.step);
    this.answers.push({
      to: ask.from,
      pairId: ask.pairId,
      home: ask.home,
      requestId: ask.requestId,
      answer: out.result,
    });
  }

  #hear(a: Answer): void {
    this.answered(a.to, a.pairId, { home: a.home, requestId: a.requestId, answer: a.answer });
  }

  /** As the actor does: a pair is decided once every ask it made has an answer. */
  answered(room: string, pairId: string, answer: AskAnswer): void {
    const s = this.state(room);
    const pair = s.held.get(pairId);
    if (!pair) {
      // Decided already (a side left meanwhile): a late grant is given back.
      this.expire(room);
      this.apply(room, handOverAnswered(s, this.clock, pairId, [answer]));
      return;
    }
    const wanted = this.asked.get(room)!.get(pairId) ?? new Set<string>();
    const got = this.collected.get(room)!;
    const list = (got.get(pairId) ?? []).filter((x) => x.requestId !== answer.requestId);
    list.push(answer);
    if ([...wanted].every((id) => list.some((x) => x.requestId === id))) {
      got.delete(pairId);
      this.asked.get(room)!.delete(pairId);
      this.expire(room);
      this.apply(room, handOverAnswered(s, this.clock, pairId, list));
    } else got.set(pairId, list);
  }

  /** Evict a bucket: rebuild it from its rows; its outstanding answers die with it, and it asks again. */
  evict(room: string): void {
    const s = this.state(room);
    const rows = [...this.rows.get(room)!.values()].map(clone);
    const matches = [...this.matchRows.get(room)!.values()].map(clone);
    const restored = restoreBucketState(s.bucket, this.settings, { requests: rows, matches, nextRank: 1 });
    this.buckets.set(room, restored);
    this.answers = this.answers.filter((a) => a.to !== room);
    this.collected.set(room, new Map());
    this.asked.set(room, new Map());
    for (const ask of pendingAsks(restored)) this.ask({ from: room, ...ask });
    this.apply(room, releaseUnaskedPairs(restored, this.clock));
  }

  advance(ms: number): void {
    this.clock.now += ms;
    for (const room of ROOMS) this.expire(room);
  }

  /**
   * Deliver in rounds, as buckets running side by side at the same pace do: each round delivers
   * one message of every link, then every ask made so far, then every answer. This is where
   * two buckets' asks for each other's requests cross, round after round.
   */
  settleInLockstep(): void {
    for (let round = 0; ; round++) {
      assert.ok(round < 1_000, "messages never settle in lockstep");
      const heads = [...this.links.values()].filter((l) => l.length > 0);
      const asks = this.asks.splice(0);
      const answers = this.answers.splice(0);
      if (heads.length + asks.length + answers.length === 0) return;
      for (const list of heads) this.#receive(list.shift()!);
      for (const ask of asks) this.#answer(ask);
      for (const a of answers) this.#hear(a);
    }
  }

  /** Deliver everything, the first pending thing each time. */
  settle(): void {
    for (let n = 0; this.deliver(0); n++) assert.ok(n < 10_000, "messages never settle");
  }
}

function owned(net: Network): MatchRequest[] {
  return [...net.buckets.values()].flatMap((s) => [...s.requests.values()].filter((r) => r.home === null));
}

/** Holds after every action. */
function checkAlways(net: Network, where: string): void {
  const inMatches = new Map<string, string>();
  for (const [room, s] of net.buckets) {
    for (const m of s.matches.values()) {
      for (const [i, u] of m.users.entries()) {
        assert.ok(
          !inMatches.has(u),
          `${where}: ${u} in two live matches (${inMatches.get(u)}, ${room}/${m.id})`,
        );
        inMatches.set(u, `${room}/${m.id}`);
        const r = s.requests.get(m.requests[i]!);
        assert.equal(r?.matchId, m.id, `${where}: ${room}/${m.id} side ${u} not matched to it`);
        if (r?.home) {
          const home = net.state(r.home).requests.get(r.id);
          assert.equal(home?.away?.room, room, `${where}: ${r.id} matched in ${room} but not lent there`);
        }
      }
    }
    // Creation order within each bucket.
    for (let i = 1; i < s.queue.length; i++) {
      const a = s.requests.get(s.queue[i - 1]!)!;
      const b = s.requests.get(s.queue[i]!)!;
      assert.ok(a.createdAt <= b.createdAt, `${where}: ${room} queue not in creation order`);
    }
  }
  const liveOwned = new Map<string, string>();
  for (const r of owned(net)) {
    assert.ok(!liveOwned.has(r.userId), `${where}: ${r.userId} has two live requests`);
    liveOwned.set(r.userId, r.id);
  }
}

/** Holds once every message has been delivered. */
function checkAtRest(net: Network, where: string): void {
  checkAlways(net, where);
  for (const [room, s] of net.buckets) {
    for (const r of s.requests.values()) {
      if (r.home === null) continue;
      const home = net.state(r.home).requests.get(r.id);
      assert.ok(home, `${where}: ${room} keeps ${r.id} after it ended at ${r.home}`);
      if (r.status === "MATCHED") continue;
      assert.ok(
        available(home) && home.epoch === r.epoch,
        `${where}: ${room} keeps a stale entry of ${r.id}`,
      );
    }
    assert.equal(s.held.size, 0, `${where}: ${room} still holds a pair`);
    const waiting = s.queue.map((id) => s.requests.get(id)!);
    for (let i = 0; i < waiting.length; i++) {
      for (let j = i + 1; j < waiting.length; j++) {
        assert.ok(
          !compatible(waiting[i]!, waiting[j]!, net.clock.now, net.settings),
          `${where}: ${room} leaves ${waiting[i]!.userId} and ${waiting[j]!.userId} waiting`,
        );
      }
    }
  }
  for (const r of owned(net)) {
    assert.ok(!net.left.has(r.id), `${where}: ${r.userId} left, but ${r.id} is still ${r.status}`);
    if (r.away) {
      const m = net.state(r.away.room).matches.get(r.away.pairId);
      assert.ok(m?.requests.includes(r.id), `${where}: ${r.id} is lent to ${r.away.room} for no match`);
    }
    if (!available(r)) continue;
    for (const room of r.also) {
      const e = net.state(room).requests.get(r.id);
      assert.ok(e && e.status === "PENDING" && e.epoch === r.epoch, `${where}: ${r.id} missing from ${room}`);
    }
  }
}

type Cmd =
  | { t: "join"; u: string; home: number; also: number[]; widen: boolean }
  | { t: "act"; u: string; kind: "confirm" | "decline" | "leave" | "status" | "disconnect" }
  | { t: "reconnect"; u: string }
  | { t: "deliver"; k: number; n: number }
  | { t: "advance"; ms: number }
  | { t: "evict"; room: number }
  | { t: "setup"; k: number; ok: boolean };

const user = fc.constantFrom(...USERS);
const room = fc.nat(ROOMS.length - 1);
const cmdArb: fc.Arbitrary<Cmd> = fc.oneof(
  {
    weight: 5,
    arbitrary: fc.record({
      t: fc.constant("join" as const),
      u: user,
      home: room,
      also: fc.array(room, { maxLength: 3 }),
      widen: fc.boolean(),
    }),
  },
  {
    weight: 5,
    arbitrary: fc.record({
      t: fc.constant("act" as const),
      u: user,
      kind: fc.constantFrom(
        "confirm" as const,
        "confirm" as const,
        "decline" as const,
        "leave" as const,
        "status" as const,
        "disconnect" as const,
      ),
    }),
  },
  { weight: 1, arbitrary: fc.record({ t: fc.constant("reconnect" as const), u: user }) },
  {
    weight: 8,
    arbitrary: fc.record({
      t: fc.constant("deliver" as const),
      k: fc.nat(20),
      n: fc.integer({ min: 1, max: 4 }),
    }),
  },
  {
    weight: 2,
    arbitrary: fc.record({
      t: fc.constant("advance" as const),
      ms: fc.constantFrom(0, 1_000, 5_000, 11_000, 21_000, 40_000, 61_000),
    }),
  },
  { weight: 1, arbitrary: fc.record({ t: fc.constant("evict" as const), room }) },
  { weight: 1, arbitrary: fc.record({ t: fc.constant("setup" as const), k: fc.nat(3), ok: fc.boolean() }) },
);

function run(orchestrate: boolean, rotate: boolean, cmds: Cmd[]): void {
  const net = new Network(orchestrate);
  for (const [i, c] of cmds.entries()) {
    const where = `command #${i} ${JSON.stringify(c)}`;
    if (c.t === "join")
      net.join(
        c.u,
        ROOMS[c.home]!,
        c.also.map((k) => ROOMS[k]!),
        c.widen,
      );
    else if (c.t === "act") net.act(c.u, c.kind);
    else if (c.t === "reconnect") net.reconnect(c.u);
    else if (c.t === "deliver") for (let n = 0; n < c.n; n++) net.deliver(c.k + n);
    else if (c.t === "advance") net.advance(c.ms);
    else if (c.t === "evict") net.evict(ROOMS[c.room]!);
    else net.setupDone(c.k, c.ok);
    checkAlways(net, where);
  }
  if (rotate) net.settleInLockstep();
  else net.settle();
  checkAtRest(net, "settled");
  // Everyone's time runs out: nothing is left live anywhere, and each request ended once.
  for (let round = 0; round < 6; round++) {
    net.setupDone(0, true);
    net.advance(61_000);
    if (rotate) net.settleInLockstep();
    else net.settle();
  }
  for (const [room, s] of net.buckets) {
    assert.equal(s.requests.size, 0, `${room} still has live requests after every timeout`);
    assert.equal(s.matches.size, 0, `${room} still has live matches after every timeout`);
  }
  assert.equal(net.claims.size, 0, "a claim outlived its request");
}

test("a refusal that crosses the request's placement again in the same bucket keeps the new entry", () => {
  // The guest bucket pairs u3's entry, loses it to a withdrawal, pairs the next placement again
  // and asks twice: the first ask wins and is given back (its entry went), the home places u3
  // again, and only then the second ask's refusal arrives. That refusal must not drop the entry
  // placed after it, or u3 would never wait in medium again.
  run(false, false, [
    { t: "join", u: "u3", home: 0, also: [1], widen: false },
    { t: "join", u: "u2", home: 1, also: [], widen: false },
    { t: "join", u: "u1", home: 0, also: [], widen: false },
    { t: "act", u: "u1", kind: "leave" },
    { t: "join", u: "u1", home: 2, also: [], widen: false },
  ]);
});

test("a leave that crosses its request's return from a guest bucket still ends the request", () => {
  // u4 (home medium, also easy) is lent to easy for a pair with u2's entry; u4 leaves on the
  // home socket, so the leave goes to easy; easy's pair falls apart meanwhile (u2's home refuses)
  // and gives u4 back. The leave reaches easy after that and finds nothing: the home must end
  // u4's request when it comes back, not queue it again.
  run(false, false, [
    { t: "join", u: "u1", home: 2, also: [], widen: false },
    { t: "join", u: "u4", home: 1, also: [0], widen: false },
    { t: "join", u: "u2", home: 0, also: [3, 2], widen: false },
    { t: "deliver", k: 2, n: 3 },
    { t: "deliver", k: 6, n: 3 },
    { t: "act", u: "u4", kind: "leave" },
  ]);
});

test("a bucket restarted while it holds a pair whose guest entry was withdrawn still decides the pair", () => {
  // easy.graphs holds u3 (its own) with u1's entry and asks easy.arrays, where u1's socket just
  // dropped; the withdrawal arrives before the refusal, and the bucket is evicted before the
  // refusal reaches it. It must ask again: a dropped entry left nothing to ask for, and u3 was
  // held forever.
  run(false, false, [
    { t: "join", u: "u3", home: 3, also: [0], widen: false },
    { t: "join", u: "u1", home: 0, also: [3], widen: false },
    { t: "act", u: "u1", kind: "disconnect" },
    { t: "deliver", k: 2, n: 3 },
    { t: "deliver", k: 3, n: 1 },
    { t: "evict", room: 3 },
    { t: "act", u: "u1", kind: "confirm" },
  ]);
});

test("a guest withdrawn while held as the second of a pair is dropped when the pair falls apart", () => {
  // easy.graphs holds u5's entry and u1's (second, not asked yet); u1's withdrawal comes while
  // held, then u5's home refuses. u1's entry must go, not wait again in a bucket it left.
  run(false, false, [
    { t: "join", u: "u5", home: 1, also: [3], widen: false },
    { t: "join", u: "u1", home: 0, also: [3, 1], widen: false },
    { t: "deliver", k: 14, n: 3 },
  ]);
});

test("a bucket restarted while it holds a pair whose lent guest left meanwhile decides the pair", () => {
  // easy.arrays holds u1 (its own) with u3's entry; u3's home grants it, then u3 leaves and the
  // leave ends the entry here before the grant arrives, which dies with the evicted instance.
  // Nothing is left to ask for, so the restarted bucket puts u1 back at once.
  run(false, false, [
    { t: "join", u: "u1", home: 0, also: [], widen: false },
    { t: "join", u: "u3", home: 1, also: [0], widen: false },
    { t: "deliver", k: 0, n: 2 },
    { t: "act", u: "u3", kind: "leave" },
    { t: "deliver", k: 0, n: 1 },
    { t: "evict", room: 0 },
    { t: "act", u: "u1", kind: "confirm" },
  ]);
});

test("a user who leaves while matched in a guest bucket, as the match falls through, hears cancelled", () => {
  const net = new Network();
  net.join("u2", MEDIUM, [], false);
  net.join("u1", EASY, [MEDIUM], false);
  net.settle();
  assert.equal(lastOf(net, "u1", "match_found").room, MEDIUM);
  // u2 declines in medium, which sends u1 home; before that report arrives, u1 leaves at home,
  // and the leave goes to medium, which holds nothing of u1's any more.
  net.act("u2", "decline");
  net.act("u1", "leave");
  net.settle();
  assert.equal(lastOf(net, "u1", "cancelled").requestId, net.rows.get(EASY)!.keys().next().value);
  assert.equal(framesOf(net, "u1").at(-1)?.type, "cancelled");
  assert.equal(net.claims.has("u1"), false);
  for (const s of net.buckets.values()) assert.equal(s.requests.size, 0);
});

test("requests in several buckets are paired exactly once, under random interleavings", () => {
  fc.assert(
    fc.property(
      fc.boolean(),
      fc.boolean(),
      fc.array(cmdArb, { minLength: 1, maxLength: 80 }),
      (orchestrate, rotate, cmds) => run(orchestrate, rotate, cmds),
    ),
    { numRuns: 400, seed: 20261201 },
  );
});

// --- the protocol's decisions, one scenario at a time ------------------------------------------

const EASY = "easy.arrays";
const MEDIUM = "medium.arrays";
const HARD = "hard.arrays";

function framesOf(net: Network, userId: string): ServerFrame[] {
  return net.frames.get(userId) ?? [];
}

function lastOf<T extends ServerFrame["type"]>(
  net: Network,
  userId: string,
  type: T,
): Extract<ServerFrame, { type: T }> {
  const f = framesOf(net, userId).findLast((x) => x.type === type);
  assert.ok(f, `${userId} heard no ${type}: ${JSON.stringify(framesOf(net, userId))}`);
  return f as Extract<ServerFrame, { type: T }>;
}

function sendAll(net: Network, link: string): void {
  const list = net.links.get(link) ?? [];
  while (list.length > 0) {
    const { from, to, message } = list.shift()!;
    net.apply(to, receive(net.state(to), net.clock, from, message));
  }
}

test("a withdrawal that comes after its request was placed again and granted does not strand the grant", () => {
  const net = new Network();
  const heads = () => [...net.links.values()].filter((l) => l.length > 0).length;
  const one = (link: string) => {
    const { from, to, message } = net.links.get(link)!.shift()!;
    net.apply(to, receive(net.state(to), net.clock, from, message));
  };
  net.join("u1", EASY, [HARD], false);
  net.join("u2", MEDIUM, [HARD], false);
  one(`${EASY}>${HARD}`);
  // u1's socket drops and comes back: a withdrawal and a placement set off to hard.
  net.act("u1", "disconnect");
  net.reconnect("u1");
  one(`${MEDIUM}>${HARD}`);
  // hard holds [u1, u2] and asks for u1, whose home grants it (u1 is back), then for u2; only
  // now the old withdrawal arrives. Dropping u1's entry then meant the pair fell apart without
  // giving u1 back: lent to hard for a match that never was, u1 waited nowhere.
  assert.equal(net.asks.length, 1);
  net.deliver(heads());
  net.deliver(heads() + net.asks.length);
  one(`${EASY}>${HARD}`);
  net.settle();
  const found = lastOf(net, "u1", "match_found");
  assert.equal(found.partnerId, "u2");
  assert.equal(found.room, HARD);
  checkAtRest(net, "settled");
});

test("any-of: a request waiting in a second bucket is paired there, and its user hears it at home", () => {
  const net = new Network();
  net.join("u1", EASY, [MEDIUM], false);
  assert.deepEqual(lastOf(net, "u1", "queued").buckets, [EASY, MEDIUM]);
  net.join("u2", MEDIUM, [], false);
  net.settle();
  const found = lastOf(net, "u1", "match_found");
  assert.equal(found.partnerId, "u2");
  assert.equal(found.room, MEDIUM);
  assert.equal(found.difficulty, "medium");
  assert.equal(lastOf(net, "u2", "match_found").matchId, found.matchId);
  const home = net.state(EASY).requests.get(net.claims.get("u1")!.requestId)!;
  assert.equal(home.status, "MATCHED");
  assert.deepEqual(home.away, { room: MEDIUM, pairId: found.matchId });
  // u1 confirms on the home socket; it reaches the bucket holding the match.
  net.act("u1", "confirm");
  net.act("u2", "confirm");
  net.settle();
  assert.equal(lastOf(net, "u1", "match_ready").difficulty, "medium");
  assert.equal(lastOf(net, "u2", "match_ready").partnerId, "u1");
  assert.equal(net.rows.get(EASY)!.get(home.id)!.status, "CONFIRMED");
  assert.equal(net.claims.size, 0);
  for (const s of net.buckets.values()) assert.equal(s.requests.size, 0);
});

test("two buckets racing for one request: one match; the loser pairs its own user with no one and says nothing wrong", () => {
  for (const firstAsk of [0, 1]) {
    const net = new Network();
    net.join("u2", MEDIUM, [], false);
    net.join("u3", HARD, [], false);
    net.join("u1", EASY, [MEDIUM, HARD], false);
    // Both placements arrive; both buckets hold a pair with u1 and ask its home.
    sendAll(net, `${EASY}>${MEDIUM}`);
    sendAll(net, `${EASY}>${HARD}`);
    assert.equal(net.asks.length, 2);
    net.deliver(net.links.size * 0 + firstAsk + [...net.links.values()].filter((l) => l.length > 0).length);
    net.settle();
    const winner = firstAsk === 0 ? "u2" : "u3";
    const loser = firstAsk === 0 ? "u3" : "u2";
    assert.equal(lastOf(net, "u1", "match_found").partnerId, winner);
    assert.equal(framesOf(net, "u1").filter((f) => f.type === "match_found").length, 1);
    assert.ok(!framesOf(net, loser).some((f) => f.type === "match_found"), `${loser} heard a match`);
    const loserRoom = firstAsk === 0 ? HARD : MEDIUM;
    assert.deepEqual(
      net.state(loserRoom).queue.map((id) => net.state(loserRoom).requests.get(id)!.userId),
      [loser],
      "the loser's user waits on, and u1's stale entry is gone",
    );
  }
});

test("a home that pairs its request itself refuses a guest's ask; the guest drops the entry", () => {
  const net = new Network();
  net.join("u2", MEDIUM, [], false);
  net.join("u1", EASY, [MEDIUM], false);
  sendAll(net, `${EASY}>${MEDIUM}`);
  assert.equal(net.asks.length, 1);
  // Before the ask arrives, someone joins u1's home and is paired with it there.
  net.join("u3", EASY, [], false);
  assert.equal(lastOf(net, "u1", "match_found").partnerId, "u3");
  net.settle();
  assert.equal(framesOf(net, "u1").filter((f) => f.type === "match_found").length, 1);
  assert.ok(!framesOf(net, "u2").some((f) => f.type === "match_found"));
  assert.deepEqual(net.state(MEDIUM).queue.length, 1);
});

test("a refusal that overtakes the withdrawal drops the held entry; the user's return places it again", () => {
  const net = new Network();
  net.join("u2", MEDIUM, [], false);
  net.join("u1", EASY, [MEDIUM], false);
  sendAll(net, `${EASY}>${MEDIUM}`);
  // u1's socket drops (a withdrawal sets off to medium), and the ask is refused...
  net.act("u1", "disconnect");
  net.deliver([...net.links.values()].filter((l) => l.length > 0).length);
  assert.equal(net.answers[0]!.answer.granted, false);
  // ...and the refusal arrives first: u2 waits on, the stale entry is gone.
  net.deliver([...net.links.values()].filter((l) => l.length > 0).length);
  assert.deepEqual(
    net.state(MEDIUM).queue.map((id) => net.state(MEDIUM).requests.get(id)!.userId),
    ["u2"],
  );
  assert.ok(!framesOf(net, "u2").some((f) => f.type === "match_found"));
  net.reconnect("u1");
  net.settle();
  assert.equal(lastOf(net, "u1", "match_found").partnerId, "u2");
});

test("a survivor goes back to all its buckets at its place, and is paired again at once", () => {
  const net = new Network();
  net.join("u1", EASY, [MEDIUM], false);
  net.clock.now += 1_000;
  net.join("u4", EASY, [], false); // would pair with u1 at home, but u1 is taken first
  net.settle();
  assert.equal(lastOf(net, "u1", "match_found").partnerId, "u4");
  net.act("u4", "decline");
  net.settle();
  const cancelled = lastOf(net, "u1", "match_cancelled");
  assert.equal(cancelled.reason, "partner_declined");
  assert.deepEqual(lastOf(net, "u1", "queued").buckets, [EASY, MEDIUM]);
  const id = net.claims.get("u1")!.requestId;
  assert.equal(net.state(MEDIUM).requests.get(id)?.status, "PENDING", "waiting in its other bucket again");
  // Someone arrives in the other bucket: paired at once, across buckets.
  net.join("u5", MEDIUM, [], false);
  net.settle();
  assert.equal(lastOf(net, "u1", "match_found").partnerId, "u5");
  assert.equal(lastOf(net, "u1", "match_found").room, MEDIUM);
});

test("a survivor of a match in a guest bucket is returned home and placed everywhere again", () => {
  const net = new Network();
  net.join("u2", MEDIUM, [], false);
  net.join("u1", EASY, [MEDIUM, HARD], false);
  net.settle();
  assert.equal(lastOf(net, "u1", "match_found").room, MEDIUM);
  assert.equal(net.state(HARD).requests.size, 0, "withdrawn from the third bucket while matched");
  net.act("u2", "decline");
  net.settle();
  assert.equal(lastOf(net, "u1", "match_cancelled").reason, "partner_declined");
  assert.deepEqual(lastOf(net, "u1", "queued").buckets, [EASY, MEDIUM, HARD]);
  const id = net.claims.get("u1")!.requestId;
  for (const room of [EASY, MEDIUM, HARD])
    assert.equal(net.state(room).requests.get(id)?.status, "PENDING", room);
});

test("widening: after the wait, the request also waits in the neighbouring difficulty", () => {
  const net = new Network();
  net.join("u1", EASY, ["easy.graphs"], true);
  net.settle();
  net.advance(SETTINGS.widenAfterMs);
  assert.deepEqual(lastOf(net, "u1", "queued").buckets, [EASY, "easy.graphs", MEDIUM, "medium.graphs"]);
  net.settle();
  net.join("u2", "medium.graphs", [], false);
  net.settle();
  assert.equal(lastOf(net, "u1", "match_found").room, "medium.graphs");
});

test("queue order within a bucket is by creation, wherever a request was made", () => {
  const net = new Network();
  net.join("u1", EASY, [HARD], false, "interviewer");
  net.clock.now += 1_000;
  // Two younger interviewers wait in hard before u1's placement arrives there.
  net.join("u2", HARD, [], false, "interviewer");
  net.clock.now += 1_000;
  net.join("u3", HARD, [], false, "interviewer");
  sendAll(net, `${EASY}>${HARD}`);
  const s = net.state(HARD);
  assert.deepEqual(
    s.queue.map((id) => s.requests.get(id)!.userId),
    ["u1", "u2", "u3"],
  );
  // An interviewee arrives: the oldest compatible request is u1's, made first, elsewhere.
  net.join("u4", HARD, [], false, "interviewee");
  net.settle();
  assert.equal(lastOf(net, "u4", "match_found").partnerId, "u1");
});

test("two homes pairing each other's request at once both make progress (no livelock)", () => {
  // Each waits at home and in the other's home: each home pairs its own request with the other's
  // entry and asks for it at the same moment. Taken in a fixed order, one pair wins.
  for (const [first, second] of [
    ["u1", "u2"],
    ["u2", "u1"],
  ] as const) {
    const net = new Network();
    net.join(first, EASY, [MEDIUM], false);
    net.join(second, MEDIUM, [EASY], false);
    net.settleInLockstep();
    const found = lastOf(net, "u1", "match_found");
    assert.equal(found.partnerId, "u2");
    assert.equal(lastOf(net, "u2", "match_found").matchId, found.matchId);
  }
});

test("three buckets whose guest pairs cross all settle, taking turns", () => {
  const net = new Network();
  net.join("u1", EASY, [MEDIUM, HARD], false);
  net.join("u2", MEDIUM, [HARD, EASY], false);
  net.join("u3", HARD, [EASY, MEDIUM], false);
  net.join("u4", "easy.graphs", [EASY, MEDIUM, HARD], false);
  net.settleInLockstep();
  const paired = ["u1", "u2", "u3", "u4"].filter((u) =>
    framesOf(net, u).some((f) => f.type === "match_found"),
  );
  assert.equal(paired.length, 4);
});

test("a user's newer request is placed in a guest bucket that still holds their older one for a pair", () => {
  // u3's first request (home hard.arrays, also easy.arrays and medium.arrays) is held in
  // easy.arrays for a pair with u1 when its queue time runs out; u3's new request (home
  // easy.graphs, also easy.arrays) is placed in easy.arrays before the old entry's fate is known
  // there. It must wait there all the same.
  run(false, false, [
    { t: "join", u: "u1", home: 0, also: [], widen: false },
    { t: "join", u: "u3", home: 2, also: [0, 1], widen: false },
    { t: "deliver", k: 2, n: 1 },
    { t: "advance", ms: 61_000 },
    { t: "join", u: "u3", home: 3, also: [0], widen: false },
    { t: "deliver", k: 5, n: 2 },
  ]);
});

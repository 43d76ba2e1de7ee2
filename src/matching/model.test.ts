import assert from "node:assert/strict";
import { test } from "node:test";
import fc from "fast-check";
import { type Event, Harness, iso } from "../../test/core/testHarness.ts";
import type { MatchCancelReason, ServerFrame } from "../protocol/frames.ts";
import { assignParts } from "./compatibility.ts";
import type { MatchRequest, Part, Profile, RequestStatus, Role, Settings } from "./types.ts";

/**
 * Model-based property test: random command sequences over a handful of users, run against the
 * core (through the harness, with a simulated storage and evictions) and against a small
 * reference model written straight from docs/protocol.md, compared after every command, with
 * invariants checked on the core's own state.
 *
 * The reference model keeps no queue or heap: the queue is "live PENDING requests by rank" and
 * the next deadline is "the earliest deadline of the current state". Deadlines due at the same
 * instant are applied queue timeouts first, then confirm windows, then reconnect graces (ties
 * by id), each at its own time; then, at that instant, pairing. Pairing is the contract's rule
 * applied globally: while any two waiting requests are compatible, the oldest request that has
 * a compatible partner is paired with its oldest compatible partner. Two waiting requests that
 * time alone makes compatible (a rating window widens, a cooldown ends) are a deadline of the
 * model at that moment; the core may wake earlier (a recheck that finds nothing) but never later.
 */

const USERS = ["u1", "u2", "u3", "u4", "u5"];
const BOGUS_MATCH = "mat_bogus-000";

type MReq = {
  id: string;
  userId: string;
  role: Role;
  rating: number | null;
  blocked: string[];
  recent: Record<string, number>;
  rank: number;
  status: "PENDING" | "MATCHED";
  createdAt: number;
  expiresAt: number;
  pausedRemainingMs: number | null;
  matchId: string | null;
  graceUntil: number | null;
};
type MMatch = {
  id: string;
  users: [string, string];
  parts: [Part, Part];
  confirmBy: number;
  confirmed: string[];
  settingUp: boolean;
};
type Refused = { ok: false; code: string };

const KIND_ORDER = { queue: 0, confirm: 1, grace: 2, recheck: 3 } as const;

/** The model's settings: short enough cooldowns and windows to come into play within a run. */
const SETTINGS: Partial<Settings> = {
  rematchCooldownMs: 30_000,
  ratingWindow: 100,
  ratingWidenStep: 25,
  ratingWidenMs: 10_000,
};

type Compared = Pick<MReq, "userId" | "role" | "rating" | "blocked" | "recent" | "graceUntil" | "createdAt">;

/**
 * From when two requests are compatible, read straight from docs/protocol.md, "Pairing"
 * (null: not by time alone). Also used to check the core's own state at rest.
 */
function compatibleFrom(a: Compared, b: Compared, now: number, s: Settings): number | null {
  if (a.graceUntil !== null || b.graceUntil !== null) return null;
  if (a.userId === b.userId) return null;
  if ((a.role === "interviewer" || a.role === "interviewee") && a.role === b.role) return null;
  if (a.blocked.includes(b.userId) || b.blocked.includes(a.userId)) return null;
  let from = now;
  for (const t of [a.recent[b.userId], b.recent[a.userId]]) {
    if (t !== undefined) from = Math.max(from, t + s.rematchCooldownMs);
  }
  if (a.rating === null || b.rating === null) return from;
  const older = Math.min(a.createdAt, b.createdAt);
  const gap = Math.abs(a.rating - b.rating);
  for (let k = 0; k < 1_000; k++) {
    if (s.ratingWindow + k * s.ratingWidenStep >= gap) return Math.max(from, older + k * s.ratingWidenMs);
  }
  return null;
}

/** Partners within the cooldown at `at`, plus `partner` at `at`. */
function noted(
  recent: Record<string, number>,
  partner: string,
  at: number,
  s: Settings,
): Record<string, number> {
  const out: Record<string, number> = {};
  for (const [u, t] of Object.entries(recent)) if (t + s.rematchCooldownMs > at) out[u] = t;
  out[partner] = at;
  return out;
}
type Due = { at: number; kind: keyof typeof KIND_ORDER; id: string };

class Model {
  now: number;
  #ids = 0;
  #rank = 1;
  readonly s: Settings;
  readonly live = new Map<string, MReq>(); // by user
  readonly matches = new Map<string, MMatch>();
  readonly endedRequests = new Map<string, RequestStatus>();
  readonly endedMatches = new Map<
    string,
    { status: "confirmed" | "cancelled"; reason: MatchCancelReason | null }
  >();
  /** Waits recorded since the last eviction (the core keeps its statistics in memory only). */
  waits: number[] = [];
  readonly out = new Map<string, Event[]>();
  readonly setups: string[] = [];
  /** Per user, as their registry shard keeps it: blocks, and recent partners. */
  readonly blocks = new Map<string, string[]>();
  readonly recentOf = new Map<string, Record<string, number>>();

  constructor(now: number, s: Settings) {
    this.now = now;
    this.s = s;
  }

  newId(prefix: "req" | "mat"): string {
    return `${prefix}_${String(++this.#ids).padStart(8, "0")}`;
  }

  take(u: string): Event[] {
    const l = this.out.get(u) ?? [];
    this.out.delete(u);
    return l;
  }
  send(u: string, frame: ServerFrame): void {
    if (!this.out.has(u)) this.out.set(u, []);
    this.out.get(u)!.push({ kind: "frame", frame });
  }
  close(u: string, code: number, reason: string): void {
    if (!this.out.has(u)) this.out.set(u, []);
    this.out.get(u)!.push({ kind: "close", code, reason });
  }

  queue(): MReq[] {
    return [...this.live.values()].filter((r) => r.status === "PENDING").sort((a, b) => a.rank - b.rank);
  }
  reqById(id: string): MReq | undefined {
    return [...this.live.values()].find((r) => r.id === id);
  }
  estimate(): number | null {
    const w = this.waits.slice(-256).sort((a, b) => a - b);
    if (w.length === 0) return null;
    return Math.round(w[Math.min(w.length - 1, Math.floor(0.5 * w.length))]!);
  }
  queued(r: MReq): ServerFrame {
    const q = this.queue();
    return {
      type: "queued",
      requestId: r.id,
      difficulty: "easy",
      topic: "arrays",
      position: q.indexOf(r) + 1,
      waiting: q.length,
      estimatedWaitMs: this.estimate(),
      expiresAt: iso(r.expiresAt),
      buckets: ["easy.arrays"],
    };
  }
  found(m: MMatch, u: string): ServerFrame {
    return {
      type: "match_found",
      matchId: m.id,
      partnerId: m.users[0] === u ? m.users[1] : m.users[0],
      difficulty: "easy",
      topic: "arrays",
      role: m.users[0] === u ? m.parts[0] : m.parts[1],
      confirmBy: iso(m.confirmBy),
      room: "easy.arrays",
    };
  }

  profileOf(u: string, role: Role, rating: number | null): Profile {
    return { role, rating, blocked: [...(this.blocks.get(u) ?? [])], recent: { ...this.recentOf.get(u) } };
  }

  /** The oldest waiting request with a compatible partner, and its oldest compatible partner. */
  #nextPair(): [MReq, MReq] | null {
    const q = this.queue();
    for (const a of q) {
      for (const b of q) if (a !== b && compatibleFrom(a, b, this.now, this.s) === this.now) return [a, b];
    }
    return null;
  }

  notePartners(m: MMatch): void {
    for (const [i, u] of m.users.entries()) {
      const partner = m.users[1 - i]!;
      const r = this.live.get(u);
      if (r) r.recent = noted(r.recent, partner, this.now, this.s);
      this.recentOf.set(u, noted(this.recentOf.get(u) ?? {}, partner, this.now, this.s));
    }
  }

  pair(): void {
    for (let p = this.#nextPair(); p; p = this.#nextPair()) {
      const [a, b] = p;
      const id = this.newId("mat");
      const m: MMatch = {
        id,
        users: [a.userId, b.userId],
        parts: assignParts(a.role, b.role, id),
        confirmBy: this.now + this.s.confirmTimeoutMs,
        confirmed: [],
        settingUp: false,
      };
      this.matches.set(m.id, m);
      for (const r of [a, b]) {
        r.status = "MATCHED";
        r.matchId = m.id;
        r.pausedRemainingMs = Math.max(0, r.expiresAt - this.now);
        this.waits.push(this.now - r.createdAt);
        this.send(r.userId, this.found(m, r.userId));
      }
    }
  }

  end(r: MReq, status: RequestStatus): void {
    this.live.delete(r.userId);
    this.endedRequests.set(r.id, status);
  }

  breakMatch(
    m: MMatch,
    enders: string[],
    reason: MatchCancelReason,
    recorded: MatchCancelReason,
    pairNow = true,
  ): void {
    this.matches.delete(m.id);
    this.endedMatches.set(m.id, { status: "cancelled", reason: recorded });
    for (const u of m.users) {
      if (enders.includes(u)) continue;
      const r = this.live.get(u)!;
      r.status = "PENDING";
      r.matchId = null;
      r.expiresAt = this.now + (r.pausedRemainingMs ?? this.s.queueTimeoutMs);
      r.pausedRemainingMs = null;
      this.send(u, { type: "match_cancelled", matchId: m.id, reason });
      this.send(u, this.queued(r));
    }
    if (pairNow) this.pair();
  }

  finish(m: MMatch, questionId: string | null, collaborationSessionId: string | null): void {
    this.matches.delete(m.id);
    this.endedMatches.set(m.id, { status: "confirmed", reason: null });
    this.notePartners(m);
    for (const u of m.users) {
      this.end(this.live.get(u)!, "CONFIRMED");
      this.send(u, {
        type: "match_ready",
        matchId: m.id,
        partnerId: m.users[0] === u ? m.users[1] : m.users[0],
        difficulty: "easy",
        topic: "arrays",
        role: m.users[0] === u ? m.parts[0] : m.parts[1],
        questionId,
        collaborationSessionId,
      });
      this.close(u, 1000, "match ready");
    }
  }

  describe(r: MReq): void {
    const m = r.matchId ? this.matches.get(r.matchId) : undefined;
    if (!m) {
      this.send(r.userId, this.queued(r));
      return;
    }
    this.send(r.userId, this.found(m, r.userId));
    const partner = m.users[0] === r.userId ? m.users[1] : m.users[0];
    if (m.confirmed.includes(partner)) this.send(r.userId, { type: "partner_confirmed", matchId: m.id });
  }

  // --- commands ---

  join(u: string, profile: Profile): { id: string; resumed: boolean } {
    const existing = this.live.get(u);
    if (existing) {
      existing.graceUntil = null;
      this.describe(existing);
      this.pair();
      return { id: existing.id, resumed: true };
    }
    const r: MReq = {
      id: this.newId("req"),
      userId: u,
      role: profile.role,
      rating: profile.rating,
      blocked: [...profile.blocked],
      recent: { ...profile.recent },
      rank: this.#rank++,
      status: "PENDING",
      createdAt: this.now,
      expiresAt: this.now + this.s.queueTimeoutMs,
      pausedRemainingMs: null,
      matchId: null,
      graceUntil: null,
    };
    this.live.set(u, r);
    this.send(u, this.queued(r));
    this.pair();
    return { id: r.id, resumed: false };
  }

  status(u: string): { ok: true } | Refused {
    const r = this.live.get(u);
    if (!r) return { ok: false, code: "no_live_request" };
    this.describe(r);
    return { ok: true };
  }

  leave(u: string): { ok: true } | Refused {
    const r = this.live.get(u);
    if (!r) return { ok: false, code: "no_live_request" };
    const m = r.matchId ? this.matches.get(r.matchId) : undefined;
    if (m) this.breakMatch(m, [u], "partner_left", "partner_left");
    this.end(r, "CANCELLED");
    this.send(u, { type: "cancelled", requestId: r.id });
    this.close(u, 1000, "left");
    return { ok: true };
  }

  #matchOf(u: string, matchId: string): MMatch | Refused {
    const r = this.live.get(u);
    if (!r) return { ok: false, code: "no_live_request" };
    const m = r.matchId === matchId ? this.matches.get(matchId) : undefined;
    return m ?? { ok: false, code: "unknown_match" };
  }

  confirm(u: string, matchId: string): { ok: true } | Refused {
    const m = this.#matchOf(u, matchId);
    if ("ok" in m) return m;
    if (m.settingUp) return { ok: true };
    if (!m.confirmed.includes(u)) {
      m.confirmed.push(u);
      if (m.confirmed.length === 1) {
        this.send(m.users[0] === u ? m.users[1] : m.users[0], { type: "partner_confirmed", matchId: m.id });
      }
    }
    if (m.confirmed.length < 2) return { ok: true };
    if (this.s.orchestrate) {
      m.settingUp = true;
      this.setups.push(m.id);
    } else {
      this.finish(m, null, null);
    }
    return { ok: true };
  }

  decline(u: string, matchId: string): { ok: true } | Refused {
    const m = this.#matchOf(u, matchId);
    if ("ok" in m) return m;
    this.notePartners(m);
    this.breakMatch(m, [u], "partner_declined", "declined");
    this.send(u, { type: "match_cancelled", matchId: m.id, reason: "declined" });
    this.end(this.live.get(u)!, "CANCELLED");
    this.close(u, 1000, "declined");
    return { ok: true };
  }

  disconnect(u: string): void {
    const r = this.live.get(u);
    if (r) r.graceUntil = this.now + this.s.reconnectGraceMs;
  }

  /** `PUT` or `DELETE /me/blocks/{v}` by u: the shard's list changes, and u's live request follows. */
  block(u: string, v: string, on: boolean): { list: string[]; live: boolean } {
    const before = this.blocks.get(u) ?? [];
    const list = on ? (before.includes(v) ? before : [...before, v]) : before.filter((x) => x !== v);
    this.blocks.set(u, list);
    const r = this.live.get(u);
    if (!r) return { list, live: false };
    r.blocked = [...list];
    this.pair();
    return { list, live: true };
  }

  setupSucceeded(matchId: string): { ok: boolean } {
    const m = this.matches.get(matchId);
    if (!m?.settingUp) return { ok: false };
    this.finish(m, `q-${matchId}`, `s-${matchId}`);
    return { ok: true };
  }

  setupFailed(matchId: string): { ok: boolean } {
    const m = this.matches.get(matchId);
    if (!m?.settingUp) return { ok: false };
    this.breakMatch(m, [], "setup_failed", "setup_failed");
    return { ok: true };
  }

  deadlines(): Due[] {
    const out: Due[] = [];
    for (const r of this.live.values()) {
      if (r.status === "PENDING") out.push({ at: r.expiresAt, kind: "queue", id: r.id });
      if (r.graceUntil !== null) out.push({ at: r.graceUntil, kind: "grace", id: r.id });
    }
    for (const m of this.matches.values())
      if (!m.settingUp) out.push({ at: m.confirmBy, kind: "confirm", id: m.id });
    const q = this.queue();
    for (const [i, a] of q.entries()) {
      for (const b of q.slice(i + 1)) {
        // The moment they became (or become) compatible; at rest that is always later than now.
        const at = compatibleFrom(a, b, -Infinity, this.s);
        if (at !== null) out.push({ at: Math.max(at, this.now), kind: "recheck", id: `${a.id}+${b.id}` });
      }
    }
    return out.sort(
      (a, b) => a.at - b.at || KIND_ORDER[a.kind] - KIND_ORDER[b.kind] || (a.id < b.id ? -1 : 1),
    );
  }

  nextDeadline(): number | null {
    return this.deadlines()[0]?.at ?? null;
  }

  /** Move time to `now`, applying every deadline due on the way. */
  expire(now: number): number {
    let n = 0;
    for (let first = this.deadlines()[0]; first && first.at <= now; first = this.deadlines()[0]) {
      // Each instant in turn: its deadlines, each at its own time as if its alarm had come on
      // time, then pairing at that instant.
      const t = first.at;
      this.now = t;
      for (let d = this.deadlines()[0]; d && d.at === t && d.kind !== "recheck"; d = this.deadlines()[0]) {
        n++;
        if (d.kind === "queue") {
          const r = this.reqById(d.id)!;
          this.end(r, "TIMED_OUT");
          this.send(r.userId, { type: "timeout", requestId: r.id });
          this.close(r.userId, 4008, "queue timeout");
        } else if (d.kind === "confirm") {
          const m = this.matches.get(d.id)!;
          const late = m.users.filter((u) => !m.confirmed.includes(u));
          this.breakMatch(m, late, "partner_timeout", "confirm_timeout", false);
          for (const u of late) {
            const r = this.live.get(u)!;
            this.send(u, { type: "match_cancelled", matchId: m.id, reason: "confirm_timeout" });
            this.end(r, "TIMED_OUT");
            this.close(u, 1000, "confirm timeout");
          }
        } else {
          const r = this.reqById(d.id)!;
          const m = r.matchId ? this.matches.get(r.matchId) : undefined;
          if (m) this.breakMatch(m, [r.userId], "partner_left", "partner_left", false);
          this.end(r, "CANCELLED");
        }
      }
      this.pair();
    }
    this.now = now;
    return n;
  }

  evict(): void {
    this.waits = [];
  }
}

// --- commands -------------------------------------------------------------------------------

type Which = "own" | "other" | "stale" | "bogus";
type Cmd =
  | { t: "join"; u: string; role: Role; rating: number | null }
  | { t: "reconnect" | "leave" | "disconnect" | "status"; u: string }
  | { t: "block" | "unblock"; u: string; v: string }
  | { t: "confirm" | "decline"; u: string; which: Which }
  | { t: "advance"; ms: number; alarms: boolean }
  | { t: "evict" }
  | { t: "setupOk" | "setupFail"; k: number };

const user = fc.constantFrom(...USERS);
const which = fc.constantFrom<Which>("own", "own", "own", "other", "stale", "bogus");
const cmdArb: fc.Arbitrary<Cmd> = fc.oneof(
  {
    weight: 5,
    arbitrary: fc.record({
      t: fc.constant("join" as const),
      u: user,
      role: fc.constantFrom<Role>("either", "either", "interviewer", "interviewee"),
      // Gaps of 80 to 250: some fit at once, others after the window widens 2 to 6 times.
      rating: fc.constantFrom(null, null, 1000, 1080, 1150, 1250),
    }),
  },
  {
    weight: 1,
    arbitrary: fc.record({ t: fc.constantFrom("block" as const, "unblock" as const), u: user, v: user }),
  },
  { weight: 1, arbitrary: fc.record({ t: fc.constant("reconnect" as const), u: user }) },
  { weight: 1, arbitrary: fc.record({ t: fc.constant("leave" as const), u: user }) },
  { weight: 2, arbitrary: fc.record({ t: fc.constant("disconnect" as const), u: user }) },
  { weight: 1, arbitrary: fc.record({ t: fc.constant("status" as const), u: user }) },
  { weight: 4, arbitrary: fc.record({ t: fc.constant("confirm" as const), u: user, which }) },
  { weight: 2, arbitrary: fc.record({ t: fc.constant("decline" as const), u: user, which }) },
  {
    weight: 4,
    arbitrary: fc.record({
      t: fc.constant("advance" as const),
      ms: fc.oneof(
        fc.constantFrom(0, 1, 5_000, 10_000, 20_000, 40_000, 60_000),
        fc.integer({ min: 0, max: 70_000 }),
      ),
      alarms: fc.boolean(),
    }),
  },
  { weight: 1, arbitrary: fc.constant({ t: "evict" as const }) },
  {
    weight: 1,
    arbitrary: fc.record({ t: fc.constantFrom("setupOk" as const, "setupFail" as const), k: fc.nat(3) }),
  },
);

const outcomeOf = (r: { ok: boolean; code?: string }) => (r.ok ? "ok" : r.code);

function run(orchestrate: boolean, cmds: Cmd[]): void {
  const h = new Harness({ ...SETTINGS, orchestrate });
  const model = new Model(h.now, h.settings);
  const seenMatches: string[] = [];
  const checkedMatches = new Set<string>();

  const pickMatch = (u: string, w: Which): string => {
    const own = model.live.get(u)?.matchId ?? null;
    if (w === "own") return own ?? BOGUS_MATCH;
    if (w === "other") return [...model.matches.keys()].find((id) => id !== own) ?? BOGUS_MATCH;
    if (w === "stale") return seenMatches.find((id) => !model.matches.has(id)) ?? BOGUS_MATCH;
    return BOGUS_MATCH;
  };
  const settingUp = (k: number): string => {
    const ids = [...model.matches.values()].filter((m) => m.settingUp).map((m) => m.id);
    return ids.length ? ids[k % ids.length]! : BOGUS_MATCH;
  };
  const expireBoth = (at: number) => {
    h.clock.now = at;
    const got = h.expire().expired;
    assert.equal(got, model.expire(at), "expired count");
  };

  for (const [i, c] of cmds.entries()) {
    const where = `command #${i} ${JSON.stringify(c)}`;
    switch (c.t) {
      case "join":
      case "reconnect": {
        if (c.t === "reconnect" && !model.live.has(c.u)) break;
        const profile = c.t === "join" ? model.profileOf(c.u, c.role, c.rating) : undefined;
        const got = h.join(c.u, profile);
        const want = model.join(c.u, profile ?? model.profileOf(c.u, "either", null));
        assert.deepEqual({ id: got.request.id, resumed: got.resumed }, want, where);
        break;
      }
      case "block":
      case "unblock": {
        // The router refuses blocking yourself (400); nothing reaches a bucket.
        if (c.u === c.v) break;
        const { list, live } = model.block(c.u, c.v, c.t === "block");
        assert.deepEqual(h.setBlocked(c.u, list), { ok: live }, where);
        break;
      }
      case "status":
        assert.equal(outcomeOf(h.status(c.u)), outcomeOf(model.status(c.u)), where);
        break;
      case "leave":
        assert.equal(outcomeOf(h.leave(c.u)), outcomeOf(model.leave(c.u)), where);
        break;
      case "disconnect":
        h.disconnect(c.u);
        model.disconnect(c.u);
        break;
      case "confirm":
      case "decline": {
        const id = pickMatch(c.u, c.which);
        assert.equal(outcomeOf(h[c.t](c.u, id)), outcomeOf(model[c.t](c.u, id)), `${where} on ${id}`);
        break;
      }
      case "advance": {
        const target = h.now + c.ms;
        if (c.alarms) {
          // As the actor does: an alarm at each next deadline, on time.
          for (let next = h.nextDeadline(); next !== null && next <= target; next = h.nextDeadline()) {
            assertNotLater(next, model.nextDeadline(), `${where}: next deadline`);
            expireBoth(next);
          }
        }
        expireBoth(target);
        break;
      }
      case "evict":
        h.evict();
        model.evict();
        break;
      case "setupOk": {
        const id = settingUp(c.k);
        const got = h.setupSucceeded(id, { questionId: `q-${id}`, collaborationSessionId: `s-${id}` });
        assert.deepEqual(got, model.setupSucceeded(id), where);
        break;
      }
      case "setupFail": {
        const id = settingUp(c.k);
        assert.deepEqual(h.setupFailed(id), model.setupFailed(id), where);
        break;
      }
    }
    for (const id of model.matches.keys()) if (!seenMatches.includes(id)) seenMatches.push(id);
    compare(h, model, where);
    checkInvariants(h, where, checkedMatches);
  }
}

/** The core did exactly what the model did: frames and closes per user, state, rows, deadlines. */
function compare(h: Harness, model: Model, where: string): void {
  for (const u of USERS) assert.deepEqual(h.take(u), model.take(u), `${where}: events to ${u}`);
  assert.deepEqual(
    h.setups.map((m) => m.id),
    model.setups,
    `${where}: setup effects`,
  );
  for (const u of USERS) {
    const got = h.live(u);
    const want = model.live.get(u);
    if (!want) {
      assert.equal(got, undefined, `${where}: ${u} should have no live request`);
      continue;
    }
    assert.ok(got, `${where}: ${u} should have a live request`);
    // Ranks are internal (and re-based by a restore); the queue order is compared below. When
    // to look again is the core's own bookkeeping, checked by `assertNotLater`. Requests here
    // wait in one bucket; the fields of flexible requests are `multiBucket.test.ts`'s.
    const {
      rank: _gotRank,
      endedAt: _e,
      outcome: _o,
      recheckAt: _c,
      home: _h,
      also: _a,
      widenAt: _w,
      epoch: _p,
      holdFor: _f,
      heldWith: _hw,
      away: _y,
      leaving: _l,
      room: _r,
      ...gotFields
    } = got;
    const { rank: _wantRank, ...wantFields } = want;
    assert.deepEqual(gotFields, wantFields, `${where}: live request of ${u}`);
    // What is stored is what is live: an eviction now would lose nothing.
    const row = h.row(got.id);
    assert.equal(row.status, got.status, `${where}: stored status of ${got.id}`);
    assert.equal(row.graceUntil, got.graceUntil, `${where}: stored grace of ${got.id}`);
    assert.equal(row.matchId, got.matchId, `${where}: stored match of ${got.id}`);
  }
  assert.deepEqual(
    h.queueUsers(),
    model.queue().map((r) => r.userId),
    `${where}: queue`,
  );
  assert.deepEqual(
    [...h.state.matches.values()]
      .map((m) => ({
        id: m.id,
        users: m.users,
        parts: m.parts,
        confirmBy: m.confirmBy,
        confirmed: m.confirmed,
        settingUp: m.settingUp,
      }))
      .sort((a, b) => (a.id < b.id ? -1 : 1)),
    [...model.matches.values()].sort((a, b) => (a.id < b.id ? -1 : 1)),
    `${where}: live matches`,
  );
  for (const [id, status] of model.endedRequests) {
    const row = h.row(id);
    assert.equal(row.status, status, `${where}: final status of ${id}`);
    assert.notEqual(row.endedAt, null, `${where}: ${id} has endedAt`);
  }
  for (const [id, end] of model.endedMatches) {
    const row = h.matchRow(id);
    assert.equal(row.status, end.status, `${where}: final status of ${id}`);
    assert.equal(row.reason, end.reason, `${where}: recorded reason of ${id}`);
  }
  assertNotLater(h.nextDeadline(), model.nextDeadline(), `${where}: next deadline`);
}

/** The core wakes no later than the model's next deadline (earlier only for a spare recheck). */
function assertNotLater(core: number | null, model: number | null, where: string): void {
  if (model === null) return;
  assert.ok(core !== null && core <= model, `${where}: core wakes at ${core}, the model at ${model}`);
}

/** Rules checked on the core's own state and on everything it sent, whatever the model says. */
function checkInvariants(h: Harness, where: string, checked: Set<string>): void {
  const s = h.state;
  const inMatch = new Map<string, string>();
  for (const m of s.matches.values()) {
    assert.notEqual(m.users[0], m.users[1], `${where}: ${m.id} pairs a user with themselves`);
    assert.equal(m.status, "proposed");
    for (const [k, u] of m.users.entries()) {
      assert.ok(!inMatch.has(u), `${where}: ${u} is in ${inMatch.get(u)} and ${m.id}`);
      inMatch.set(u, m.id);
      const r = s.requests.get(m.requests[k]!);
      assert.ok(
        r && r.userId === u && r.status === "MATCHED" && r.matchId === m.id,
        `${where}: ${m.id} rows`,
      );
    }
  }
  assert.equal(s.byUser.size, s.requests.size, `${where}: one live request per user`);
  for (const [u, id] of s.byUser) assert.equal(s.requests.get(id)?.userId, u);
  const pending = [...s.requests.values()].filter((r) => r.status === "PENDING");
  // At rest no two waiting requests are compatible: a compatible pair never waits side by side.
  for (const [i, a] of pending.entries()) {
    for (const b of pending.slice(i + 1)) {
      assert.notEqual(
        compatibleFrom(a, b, h.now, s.settings),
        h.now,
        `${where}: ${a.userId} and ${b.userId} wait side by side though compatible`,
      );
    }
  }
  // Every match proposed by this command pairs compatible requests: roles one of each, no block
  // either way (a block made later leaves a proposed match alone).
  for (const m of s.matches.values()) {
    if (checked.has(m.id)) continue;
    checked.add(m.id);
    const [a, b] = m.requests.map((id) => s.requests.get(id)!) as [MatchRequest, MatchRequest];
    assert.ok(
      !a.blocked.includes(b.userId) && !b.blocked.includes(a.userId) && m.parts[0] !== m.parts[1],
      `${where}: ${m.id} pairs incompatible requests`,
    );
    for (const [k, r] of [a, b].entries()) {
      assert.ok(r.role === "either" || r.role === m.parts[k], `${where}: ${m.id} ignores ${r.userId}'s role`);
    }
  }
  assert.deepEqual(
    [...s.queue].sort(),
    pending.map((r) => r.id).sort(),
    `${where}: the queue holds exactly the waiting requests`,
  );
  for (let i = 1; i < s.queue.length; i++) {
    assert.ok(
      s.requests.get(s.queue[i - 1]!)!.rank < s.requests.get(s.queue[i]!)!.rank,
      `${where}: queue order`,
    );
  }
  // Everyone who heard match_found hears how that match ended exactly once, unless it is still
  // live for them, or their request ended without a match frame: `cancelled` after a leave, or
  // silently when the reconnect grace ran out (nobody is connected to tell).
  for (const [u, events] of h.history) {
    const frames = events.flatMap((e) => (e.kind === "frame" ? [e.frame] : []));
    const found = new Set(frames.flatMap((f) => (f.type === "match_found" ? [f.matchId] : [])));
    for (const matchId of found) {
      const ends = frames.filter(
        (f) => (f.type === "match_ready" || f.type === "match_cancelled") && f.matchId === matchId,
      ).length;
      assert.ok(ends <= 1, `${where}: ${u} heard ${ends} endings of ${matchId}`);
      if (ends === 1) continue;
      if (inMatch.get(u) === matchId) continue;
      const req = [...h.storedRequests.values()].find((r) => r.userId === u && r.matchId === matchId);
      assert.ok(
        req && (req.outcome === "left" || req.outcome === "disconnected"),
        `${where}: ${u} never heard how ${matchId} ended`,
      );
    }
  }
}

test("the core behaves like the reference model under random commands, evictions included", () => {
  fc.assert(
    fc.property(fc.boolean(), fc.array(cmdArb, { maxLength: 60, size: "max" }), (orchestrate, cmds) =>
      run(orchestrate, cmds),
    ),
    { seed: 20250101, numRuns: 300 },
  );
});

test("long runs without orchestration", () => {
  fc.assert(
    fc.property(fc.array(cmdArb, { minLength: 100, maxLength: 200 }), (cmds) => run(false, cmds)),
    { seed: 424242, numRuns: 30 },
  );
});

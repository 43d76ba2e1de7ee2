/**
 * Test-only harness for the matching core: a deterministic clock, a simulated actor storage
 * (latest row per id, exactly as the actor persists each Step), and per-user inboxes of the
 * frames and closes the core asked for. Every frame is validated against `serverFrameSchema`.
 * Imported by the core's tests (`src/matching/*.test.ts`) and a few others; nothing in the service imports it.
 */
import assert from "node:assert/strict";
import {
  type BucketState,
  createBucketState,
  inItsOwnBucket,
  restoreBucketState,
} from "../../src/matching/state.ts";
import type { Step } from "../../src/matching/step.ts";
import * as core from "../../src/matching/transitions.ts";
import type {
  Bucket,
  Clock,
  Effect,
  Match,
  MatchRequest,
  Profile,
  Settings,
} from "../../src/matching/types.ts";
import { type ServerFrame, serverFrameSchema } from "../../src/protocol/frames.ts";

export const T0 = Date.UTC(2025, 0, 1, 12, 0, 0);
export const SEC = 1000;

export const defaultSettings: Settings = {
  queueTimeoutMs: 60 * SEC,
  confirmTimeoutMs: 20 * SEC,
  reconnectGraceMs: 10 * SEC,
  orchestrate: false,
  rematchCooldownMs: 600 * SEC,
  ratingWindow: 100,
  ratingWidenStep: 25,
  ratingWidenMs: 10 * SEC,
  widenAfterMs: 20 * SEC,
};

export const testBucket: Bucket = { difficulty: "easy", topic: "arrays" };

export const iso = (ms: number): string => new Date(ms).toISOString();

/** A waiting request row of `userId` with every other field at its plain default, for fixtures. */
export function requestRow(fields: Partial<MatchRequest> & Pick<MatchRequest, "userId">): MatchRequest {
  return {
    id: `req_${fields.userId}`,
    role: "either",
    rating: null,
    blocked: [],
    recent: {},
    recheckAt: null,
    rank: 1,
    status: "PENDING",
    createdAt: T0,
    expiresAt: T0 + 60 * SEC,
    pausedRemainingMs: null,
    matchId: null,
    graceUntil: null,
    endedAt: null,
    outcome: null,
    ...inItsOwnBucket(),
    ...fields,
  };
}

/** A clock whose ids count up (`req_00000001`, `mat_00000002`, ...), so runs are reproducible. */
export class TestClock implements Clock {
  now: number;
  #n = 0;
  constructor(now = T0) {
    this.now = now;
  }
  newId = (prefix: "req" | "mat"): string => `${prefix}_${String(++this.#n).padStart(8, "0")}`;
}

/** What one user got from the core: a frame, or a close of their socket(s). */
export type Event = { kind: "frame"; frame: ServerFrame } | { kind: "close"; code: number; reason: string };

const TERMINAL_REQUEST = new Set(["CONFIRMED", "CANCELLED", "TIMED_OUT"]);
const TERMINAL_MATCH = new Set(["confirmed", "cancelled"]);

const clone = <T>(x: T): T => JSON.parse(JSON.stringify(x)) as T;

export class Harness {
  readonly clock: TestClock;
  readonly settings: Settings;
  readonly bucket: Bucket;
  state: BucketState;
  /** Latest stored row per id, rows of ended entities included (the actor keeps them too). */
  readonly storedRequests = new Map<string, MatchRequest>();
  readonly storedMatches = new Map<string, Match>();
  /** Everything each user got, in order, since the start. */
  readonly history = new Map<string, Event[]>();
  /** Everything each user got since the last `take`. */
  readonly #inbox = new Map<string, Event[]>();
  /** Every `setup` effect, in order. */
  readonly setups: Match[] = [];
  /** Every step applied, for tests that look at rows or effects directly. */
  lastStep: Step | null = null;

  constructor(settings: Partial<Settings> = {}, bucket: Bucket = testBucket, now = T0) {
    this.clock = new TestClock(now);
    this.settings = { ...defaultSettings, ...settings };
    this.bucket = bucket;
    this.state = createBucketState(bucket, this.settings);
  }

  get now(): number {
    return this.clock.now;
  }

  /** Persist a Step's rows as the actor does, then deliver its effects to the inboxes. */
  apply(step: Step): Step {
    this.lastStep = step;
    for (const m of step.matches.values()) {
      const before = this.storedMatches.get(m.id);
      if (before && TERMINAL_MATCH.has(before.status)) {
        assert.equal(m.status, before.status, `match ${m.id} left terminal status ${before.status}`);
      }
      this.storedMatches.set(m.id, clone(m));
    }
    for (const r of step.requests.values()) {
      const before = this.storedRequests.get(r.id);
      if (before && TERMINAL_REQUEST.has(before.status)) {
        assert.equal(r.status, before.status, `request ${r.id} left terminal status ${before.status}`);
      }
      this.storedRequests.set(r.id, clone(r));
    }
    for (const e of step.effects) this.#deliver(e);
    return step;
  }

  #deliver(e: Effect): void {
    if (e.kind === "setup") {
      this.setups.push(clone(e.match));
      return;
    }
    // Messages to other buckets: a one-bucket harness has none to deliver them to.
    if (e.kind === "peer" || e.kind === "ask") return;
    let ev: Event;
    if (e.kind === "send") {
      const parsed = serverFrameSchema.safeParse(e.frame);
      assert.ok(
        parsed.success,
        `invalid frame to ${e.userId}: ${JSON.stringify(e.frame)} ${parsed.error?.message}`,
      );
      ev = { kind: "frame", frame: e.frame };
    } else {
      ev = { kind: "close", code: e.code, reason: e.reason };
    }
    for (const box of [this.history, this.#inbox]) {
      const list = box.get(e.userId) ?? [];
      list.push(ev);
      box.set(e.userId, list);
    }
  }

  /** The user's events since the last `take` (and forget them). */
  take(userId: string): Event[] {
    const list = this.#inbox.get(userId) ?? [];
    this.#inbox.delete(userId);
    return list;
  }

  /** Frames only, since the last take. */
  frames(userId: string): ServerFrame[] {
    return this.take(userId).flatMap((e) => (e.kind === "frame" ? [e.frame] : []));
  }

  /** A compact picture of what the user got since the last take: `queued`, `close:1000`, ... */
  kinds(userId: string): string[] {
    return this.take(userId).map((e) => (e.kind === "frame" ? e.frame.type : `close:${e.code}`));
  }

  /** Drop every user's undelivered-to-test events. */
  clearInboxes(): void {
    this.#inbox.clear();
  }

  // --- commands ------------------------------------------------------------------------------

  join(userId: string, profile?: Partial<Profile>) {
    const o = core.join(this.state, this.clock, userId, { ...core.ANYONE, ...profile });
    this.apply(o.step);
    return o.result;
  }
  setBlocked(userId: string, blocked: string[]) {
    const o = core.setBlocked(this.state, this.clock, userId, blocked);
    this.apply(o.step);
    return o.result;
  }
  status(userId: string) {
    const o = core.status(this.state, userId);
    this.apply(o.step);
    return o.result;
  }
  leave(userId: string) {
    const o = core.leave(this.state, this.clock, userId);
    this.apply(o.step);
    return o.result;
  }
  confirm(userId: string, matchId: string) {
    const o = core.confirm(this.state, this.clock, userId, matchId);
    this.apply(o.step);
    return o.result;
  }
  decline(userId: string, matchId: string) {
    const o = core.decline(this.state, this.clock, userId, matchId);
    this.apply(o.step);
    return o.result;
  }
  disconnect(userId: string) {
    const o = core.disconnect(this.state, this.clock, userId);
    this.apply(o.step);
    return o.result;
  }
  setupSucceeded(matchId: string, ids: { questionId: string | null; collaborationSessionId: string | null }) {
    const o = core.setupSucceeded(this.state, this.clock, matchId, ids);
    this.apply(o.step);
    return o.result;
  }
  setupFailed(matchId: string) {
    const o = core.setupFailed(this.state, this.clock, matchId);
    this.apply(o.step);
    return o.result;
  }
  /** Apply due deadlines at the current time. */
  expire() {
    const o = core.expireDue(this.state, this.clock);
    this.apply(o.step);
    return o.result;
  }
  /** Move the clock to `at` (absolute ms) and apply due deadlines once: one (possibly late) alarm. */
  at(at: number) {
    assert.ok(at >= this.clock.now, "time only moves forward");
    this.clock.now = at;
    return this.expire();
  }
  /** Move the clock by `ms` and apply due deadlines once. */
  advance(ms: number) {
    return this.at(this.clock.now + ms);
  }
  nextDeadline(): number | null {
    return core.nextDeadline(this.state);
  }

  /** Forget memory and rebuild from storage, as the actor does after eviction (JSON round trip). */
  evict(): void {
    this.state = restoreBucketState(this.bucket, this.settings, {
      requests: [...this.storedRequests.values()].filter((r) => r.endedAt === null).map(clone),
      matches: [...this.storedMatches.values()].filter((m) => m.endedAt === null).map(clone),
      nextRank: 1,
    });
  }

  // --- reading state -------------------------------------------------------------------------

  live(userId: string): MatchRequest | undefined {
    return core.liveRequestOf(this.state, userId);
  }
  /** The latest stored row of a request (live or ended). */
  row(requestId: string): MatchRequest {
    const r = this.storedRequests.get(requestId);
    assert.ok(r, `no stored row for ${requestId}`);
    return r;
  }
  matchRow(matchId: string): Match {
    const m = this.storedMatches.get(matchId);
    assert.ok(m, `no stored row for ${matchId}`);
    return m;
  }
  /** User ids of the queue, head first. */
  queueUsers(): string[] {
    return this.state.queue.map((id) => this.state.requests.get(id)!.userId);
  }
}

/** Assert the events are exactly these frames/closes (frames compared field by field). */
export function expectFrame<T extends ServerFrame["type"]>(
  frame: ServerFrame | undefined,
  type: T,
  fields: Partial<Extract<ServerFrame, { type: T }>> = {},
): Extract<ServerFrame, { type: T }> {
  assert.ok(frame, `expected a ${type} frame, got nothing`);
  assert.equal(frame.type, type, `expected ${type}, got ${JSON.stringify(frame)}`);
  for (const [k, v] of Object.entries(fields)) {
    assert.deepEqual((frame as Record<string, unknown>)[k], v, `${type}.${k}`);
  }
  return frame as Extract<ServerFrame, { type: T }>;
}

/** Match id from the last match_found in a list of frames. */
export function matchIdOf(frames: ServerFrame[]): string {
  const f = frames.findLast((x) => x.type === "match_found");
  assert.ok(f && f.type === "match_found", `no match_found in ${JSON.stringify(frames)}`);
  return f.matchId;
}

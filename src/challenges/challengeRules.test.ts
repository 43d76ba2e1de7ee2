import assert from "node:assert/strict";
import { test } from "node:test";
import {
  blockedEitherWay,
  type Challenge,
  dueToExpire,
  effectiveStatus,
  ended,
  mayAct,
  newChallenge,
  openBetween,
  openNewestFirst,
  reopened,
} from "./challengeRules.ts";

const T0 = Date.UTC(2030, 0, 1);
const TTL = 120_000;

function pending(fields: Partial<Challenge> = {}): Challenge {
  const made = newChallenge(
    {
      challengerId: "alice",
      opponentId: "bob",
      bucket: { difficulty: "easy", topic: "arrays" },
      role: "either",
    },
    T0,
    TTL,
    "chl_00000001",
  );
  assert.ok(made.ok);
  return { ...made.challenge, ...fields };
}

test("a new challenge is pending until its time to live runs out; yourself is refused", () => {
  const c = pending();
  assert.equal(c.status, "PENDING");
  assert.equal(c.expiresAt, T0 + TTL);
  const self = newChallenge(
    {
      challengerId: "alice",
      opponentId: "alice",
      bucket: { difficulty: "easy", topic: "arrays" },
      role: "either",
    },
    T0,
    TTL,
    "chl_00000002",
  );
  assert.deepEqual(self.ok ? null : self.status, 400);
});

test("accept and decline are the opponent's, cancel the challenger's; anyone else is told 404", () => {
  const c = pending();
  assert.deepEqual(mayAct(c, "accept", "bob", T0), { ok: true });
  assert.deepEqual(mayAct(c, "decline", "bob", T0), { ok: true });
  assert.deepEqual(mayAct(c, "cancel", "alice", T0), { ok: true });
  for (const [action, user] of [
    ["accept", "alice"],
    ["decline", "alice"],
    ["cancel", "bob"],
  ] as const) {
    const r = mayAct(c, action, user, T0);
    assert.equal(r.ok ? 200 : r.status, 409, `${user} ${action}`);
  }
  for (const action of ["accept", "decline", "cancel"] as const) {
    const r = mayAct(c, action, "eve", T0);
    assert.equal(r.ok ? 200 : r.status, 404);
  }
  const missing = mayAct(undefined, "accept", "bob", T0);
  assert.equal(missing.ok ? 200 : missing.status, 404);
});

test("once decided, every action is 409; once past its time, 410, alarm or not", () => {
  for (const status of ["ACCEPTED", "DECLINED", "CANCELLED"] as const) {
    const c = ended(pending(), status, T0 + 1, "mat_00000001");
    const r = mayAct(c, "accept", "bob", T0 + 2);
    assert.equal(r.ok ? 200 : r.status, 409, status);
  }
  const late = mayAct(pending(), "accept", "bob", T0 + TTL);
  assert.equal(late.ok ? 200 : late.status, 410);
  assert.equal(effectiveStatus(pending(), T0 + TTL - 1), "PENDING");
  assert.equal(effectiveStatus(pending(), T0 + TTL), "EXPIRED");
  const expired = mayAct(ended(pending(), "EXPIRED", T0 + TTL), "decline", "bob", T0 + TTL);
  assert.equal(expired.ok ? 200 : expired.status, 410);
});

test("only an accepted challenge keeps the match id", () => {
  assert.equal(ended(pending(), "ACCEPTED", T0, "mat_00000001").matchId, "mat_00000001");
  assert.equal(ended(pending(), "DECLINED", T0, "mat_00000001").matchId, null);
});

test("expiry takes due pending challenges only, and never one an action holds", () => {
  const a = pending({ id: "chl_a0000000" });
  const b = pending({ id: "chl_b0000000", expiresAt: T0 + 2 * TTL });
  const c = ended(pending({ id: "chl_c0000000" }), "DECLINED", T0);
  const held = pending({ id: "chl_d0000000" });
  const due = dueToExpire([a, b, c, held], T0 + TTL, new Set([held.id]));
  assert.deepEqual(
    due.map((x) => x.id),
    [a.id],
  );
});

test("a challenge whose setup failed waits for an answer again, or expires if its time ran out", () => {
  const accepted = ended(pending(), "ACCEPTED", T0 + 1, "mat_00000001");
  assert.deepEqual(reopened(accepted, T0 + 2), {
    ...pending(),
    status: "PENDING",
    endedAt: null,
    matchId: null,
  });
  const late = reopened(accepted, T0 + TTL + 5);
  assert.equal(late.status, "EXPIRED");
  assert.equal(late.endedAt, T0 + TTL);
});

test("an open challenge between two users counts either way round; an ended or expired one does not", () => {
  const c = pending();
  assert.equal(openBetween([c], "alice", "bob", T0), true);
  assert.equal(openBetween([c], "bob", "alice", T0), true);
  assert.equal(openBetween([c], "alice", "carol", T0), false);
  assert.equal(openBetween([c], "alice", "bob", T0 + TTL), false);
  assert.equal(openBetween([ended(c, "DECLINED", T0)], "alice", "bob", T0), false);
});

test("lists are the open ones, newest first", () => {
  const older = pending({ id: "chl_o0000000", createdAt: T0 - 10 });
  const newer = pending({ id: "chl_n0000000", createdAt: T0 });
  const gone = ended(pending({ id: "chl_g0000000", createdAt: T0 + 5 }), "CANCELLED", T0 + 6);
  assert.deepEqual(
    openNewestFirst([older, gone, newer], T0 + 10).map((c) => c.id),
    [newer.id, older.id],
  );
});

test("blocks stop a challenge both ways", () => {
  const alice = { userId: "alice", blocked: [] as string[] };
  assert.equal(blockedEitherWay(alice, { userId: "bob", blocked: ["alice"] }), true);
  assert.equal(blockedEitherWay({ userId: "alice", blocked: ["bob"] }, { userId: "bob", blocked: [] }), true);
  assert.equal(blockedEitherWay(alice, { userId: "bob", blocked: ["carol"] }), false);
});

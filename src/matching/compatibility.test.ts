import assert from "node:assert/strict";
import { describe, test } from "node:test";
import {
  defaultSettings,
  expectFrame,
  Harness,
  matchIdOf,
  requestRow,
  SEC,
  T0,
} from "../../test/core/testHarness.ts";
import {
  assignParts,
  compatible,
  compatibleFrom,
  notePartner,
  pairingFingerprint,
  rolesFit,
} from "./compatibility.ts";
import { restoreBucketState } from "./state.ts";
import { resettle } from "./transitions.ts";

const s = defaultSettings; // window 100, +25 per 10 s, cooldown 600 s

const req = requestRow;

describe("compatibility, criterion by criterion", () => {
  const a = req({ userId: "a" });
  const b = req({ userId: "b" });

  test("two plain requests of different users are compatible at once", () => {
    assert.equal(compatibleFrom(a, b, T0, s), T0);
    assert.equal(compatible(a, b, T0, s), true);
  });

  test("a user is never compatible with themselves", () => {
    assert.equal(compatibleFrom(a, req({ userId: "a", id: "req_other" }), T0, s), null);
  });

  test("a request inside its reconnect grace is skipped until it returns", () => {
    assert.equal(compatibleFrom(a, { ...b, graceUntil: T0 + 5 * SEC }, T0, s), null);
    assert.equal(compatibleFrom({ ...a, graceUntil: T0 + 5 * SEC }, b, T0, s), null);
  });

  test("a block either way keeps them apart for good", () => {
    assert.equal(compatibleFrom({ ...a, blocked: ["b"] }, b, T0, s), null);
    assert.equal(compatibleFrom(a, { ...b, blocked: ["a"] }, T0, s), null);
    assert.equal(compatibleFrom({ ...a, blocked: ["c"] }, b, T0, s), T0);
  });

  test("recent partners wait out the cooldown, from either side's memory", () => {
    const ended = T0 - 100 * SEC;
    assert.equal(compatibleFrom({ ...a, recent: { b: ended } }, b, T0, s), ended + 600 * SEC);
    assert.equal(compatibleFrom(a, { ...b, recent: { a: ended } }, T0, s), ended + 600 * SEC);
    assert.equal(compatibleFrom({ ...a, recent: { b: T0 - 600 * SEC } }, b, T0, s), T0, "cooldown over");
  });

  test("roles: two interviewers or two interviewees never pair; either fits anyone", () => {
    assert.equal(rolesFit("interviewer", "interviewer"), false);
    assert.equal(rolesFit("interviewee", "interviewee"), false);
    assert.equal(rolesFit("interviewer", "interviewee"), true);
    assert.equal(rolesFit("either", "interviewer"), true);
    assert.equal(rolesFit("either", "either"), true);
    assert.equal(compatibleFrom({ ...a, role: "interviewer" }, { ...b, role: "interviewer" }, T0, s), null);
  });

  test("ratings within the window fit at once; an unrated request fits anyone", () => {
    assert.equal(compatibleFrom({ ...a, rating: 1000 }, { ...b, rating: 1100 }, T0, s), T0);
    assert.equal(compatibleFrom({ ...a, rating: 1000 }, { ...b, rating: null }, T0, s), T0);
    assert.equal(compatibleFrom({ ...a, rating: 3000 }, b, T0, s), T0);
  });

  test("a wider gap fits once the older request has waited a step per 25 points", () => {
    const older = { ...a, rating: 1000, createdAt: T0 };
    const younger = { ...b, rating: 1160, createdAt: T0 + 15 * SEC };
    // 60 over the window: three steps of 25, i.e. 30 s of the older request's wait.
    assert.equal(compatibleFrom(older, younger, T0 + 15 * SEC, s), T0 + 30 * SEC);
    assert.equal(compatibleFrom(younger, older, T0 + 15 * SEC, s), T0 + 30 * SEC, "symmetric");
    assert.equal(compatible(older, younger, T0 + 29 * SEC, s), false);
    assert.equal(compatible(older, younger, T0 + 30 * SEC, s), true);
  });

  test("with no widening a gap beyond the window never fits", () => {
    const noWiden = { ...s, ratingWidenStep: 0 };
    assert.equal(compatibleFrom({ ...a, rating: 1000 }, { ...b, rating: 1101 }, T0, noWiden), null);
  });

  test("combinations: the latest of the cooldown and the rating window decides", () => {
    const x = { ...a, rating: 1000, recent: { b: T0 - 590 * SEC } };
    const y = { ...b, rating: 1150 };
    assert.equal(compatibleFrom(x, y, T0, s), T0 + 20 * SEC, "window (20 s) after cooldown (10 s)");
    assert.equal(compatibleFrom({ ...x, recent: { b: T0 - 500 * SEC } }, y, T0, s), T0 + 100 * SEC);
    assert.equal(compatibleFrom({ ...x, role: "interviewee" }, { ...y, role: "interviewee" }, T0, s), null);
  });
});

describe("who plays what", () => {
  test("requests are honoured", () => {
    assert.deepEqual(assignParts("interviewer", "either", "mat_1"), ["interviewer", "interviewee"]);
    assert.deepEqual(assignParts("either", "interviewer", "mat_1"), ["interviewee", "interviewer"]);
    assert.deepEqual(assignParts("interviewee", "interviewer", "mat_1"), ["interviewee", "interviewer"]);
    assert.deepEqual(assignParts("either", "interviewee", "mat_1"), ["interviewer", "interviewee"]);
  });

  test("otherwise a coin per match: one of each, both ways over many matches", () => {
    const seen = new Set<string>();
    for (let i = 0; i < 50; i++) {
      const parts = assignParts("either", "either", `mat_${crypto.randomUUID()}`);
      assert.notEqual(parts[0], parts[1]);
      seen.add(parts.join());
    }
    assert.equal(seen.size, 2);
  });
});

test("notePartner keeps only partners still inside the cooldown", () => {
  const kept = notePartner({ old: T0 - 700 * SEC, fresh: T0 - 10 * SEC }, "new", T0, 600 * SEC);
  assert.deepEqual(kept, { fresh: T0 - 10 * SEC, new: T0 });
});

describe("the pairing rule in a bucket", () => {
  test("the oldest waiting request gets its oldest compatible partner, skipping the others", () => {
    const h = new Harness();
    h.join("A", { role: "interviewer" });
    h.join("B", { role: "interviewer" });
    h.join("C", { role: "interviewer" });
    assert.deepEqual(h.queueUsers(), ["A", "B", "C"], "three interviewers wait side by side");
    h.join("D", { role: "interviewee" });
    expectFrame(h.frames("D").at(-1), "match_found", { partnerId: "A", role: "interviewee" });
    expectFrame(h.frames("A").at(-1), "match_found", { partnerId: "D", role: "interviewer" });
    assert.deepEqual(h.queueUsers(), ["B", "C"]);
  });

  test("a newcomer compatible with several is paired with the oldest of them", () => {
    const h = new Harness();
    h.join("A", { rating: 1000 });
    h.join("B", { rating: 1400 });
    h.join("C", { rating: 1600 });
    assert.deepEqual(h.queueUsers(), ["A", "B", "C"]);
    h.join("D", { rating: 1500 });
    expectFrame(h.frames("D").at(-1), "match_found", { partnerId: "B" });
    assert.deepEqual(h.queueUsers(), ["A", "C"]);
  });

  test("a pair whose rating window widens is paired by the alarm at that moment", () => {
    const h = new Harness();
    h.join("A", { rating: 1000 });
    h.advance(5 * SEC);
    h.join("B", { rating: 1160 });
    assert.deepEqual(h.queueUsers(), ["A", "B"]);
    assert.equal(h.nextDeadline(), T0 + 30 * SEC, "one alarm, when three steps have widened the window");
    h.clearInboxes();
    h.at(T0 + 30 * SEC);
    const found = expectFrame(h.frames("A")[0], "match_found", { partnerId: "B" });
    assert.equal(found.confirmBy, new Date(T0 + 50 * SEC).toISOString());
  });

  test("a late alarm pairs as the on-time one would have, before a queue timeout after it", () => {
    const h = new Harness();
    h.join("A", { rating: 1000 });
    h.join("B", { rating: 1160 });
    h.clearInboxes();
    h.at(T0 + 65 * SEC);
    // Paired at 30 s, so the queue timeout at 60 s no longer applied; the confirm window (50 s) did.
    const kinds = h.kinds("A");
    assert.deepEqual(kinds.slice(0, 2), ["match_found", "match_cancelled"]);
    assert.notEqual(h.matchRow(matchIdOf(h.frames("B"))).status, "proposed");
  });

  test("a declined pair is not paired again within the cooldown; each is paired with a third", () => {
    const h = new Harness({ queueTimeoutMs: 3600 * SEC });
    h.join("A");
    h.join("B");
    const first = matchIdOf(h.frames("A"));
    h.decline("B", first);
    const recentOfB = h.row(h.storedRequests.get(h.matchRow(first).requests[1])!.id).recent;
    assert.deepEqual(Object.keys(recentOfB), ["A"], "the ended request carries its recent partner");
    h.join("B", { recent: recentOfB });
    assert.deepEqual(h.queueUsers(), ["A", "B"], "side by side, not paired");
    assert.equal(h.nextDeadline(), T0 + 600 * SEC, "paired when the cooldown ends, if still waiting");
    h.join("C");
    expectFrame(h.frames("C").at(-1), "match_found", { partnerId: "A" });
    h.join("D");
    expectFrame(h.frames("D").at(-1), "match_found", { partnerId: "B" });
  });

  test("a user who walked away is not proposed until they return", () => {
    const h = new Harness();
    h.join("A");
    h.disconnect("A");
    h.join("B");
    assert.deepEqual(h.queueUsers(), ["A", "B"], "A keeps its place, but is skipped");
    h.clearInboxes();
    h.join("A");
    expectFrame(h.frames("A").at(-1), "match_found", { partnerId: "B" });
  });

  test("a block made while waiting applies at once; lifting it pairs them", () => {
    const h = new Harness();
    h.join("A");
    assert.deepEqual(h.setBlocked("A", ["B"]), { ok: true });
    h.join("B");
    assert.deepEqual(h.queueUsers(), ["A", "B"]);
    h.clearInboxes();
    h.setBlocked("A", []);
    expectFrame(h.frames("A").at(-1), "match_found", { partnerId: "B" });
  });

  test("joins into a queue of mutually incompatible requests look at each once", () => {
    const h = new Harness();
    for (let i = 0; i < 200; i++) h.join(`I${i}`, { role: "interviewer" });
    assert.equal(h.state.queue.length, 200);
    h.join("E", { role: "interviewee" });
    expectFrame(h.frames("E").at(-1), "match_found", { partnerId: "I0" });
  });

  test("restored under a wider window, a bucket looks at its waiting pairs again and pairs them", () => {
    const h = new Harness({ ratingWidenStep: 0 });
    h.join("A", { rating: 1000 });
    h.join("B", { rating: 1150 });
    assert.deepEqual(h.queueUsers(), ["A", "B"], "150 apart, and the window never widens");
    assert.equal(h.nextDeadline(), T0 + 60 * SEC, "nothing but the queue timeouts");
    const wider = { ...h.settings, ratingWindow: 200 };
    assert.notEqual(pairingFingerprint(wider), pairingFingerprint(h.settings));
    const rows = [...h.storedRequests.values()].filter((r) => r.endedAt === null);
    h.state = restoreBucketState(h.bucket, wider, { requests: rows, matches: [], nextRank: 1 });
    h.clearInboxes();
    h.apply(resettle(h.state, h.clock).step);
    expectFrame(h.frames("A").at(-1), "match_found", { partnerId: "B" });
  });
});

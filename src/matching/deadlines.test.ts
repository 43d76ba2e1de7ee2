import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { expectFrame, Harness, iso, matchIdOf, SEC, T0 } from "../../test/core/testHarness.ts";
import { type Deadline, DeadlineHeap } from "./deadlines.ts";

describe("DeadlineHeap", () => {
  test("pops in time order whatever the push order, and peeks the earliest", () => {
    const heap = new DeadlineHeap();
    assert.equal(heap.peek(), undefined);
    assert.equal(heap.pop(), undefined);
    // A fixed pseudo-random permutation, with duplicates.
    const ats = Array.from({ length: 200 }, (_, i) => (i * 7919) % 97);
    for (const [i, at] of ats.entries()) heap.push({ at, kind: "queue", id: `r${i}` });
    assert.equal(heap.size, 200);
    const out: number[] = [];
    for (let d = heap.pop(); d; d = heap.pop()) out.push(d.at);
    assert.deepEqual(
      out,
      [...ats].sort((a, b) => a - b),
    );
    assert.equal(heap.size, 0);
  });

  test("equal times pop in one fixed order (queue, confirm, grace; then id), whatever the push order", () => {
    const items: Deadline[] = [
      { at: 5, kind: "grace", id: "req_2" },
      { at: 5, kind: "confirm", id: "mat_9" },
      { at: 5, kind: "queue", id: "req_3" },
      { at: 5, kind: "queue", id: "req_1" },
      { at: 5, kind: "confirm", id: "mat_4" },
      { at: 1, kind: "grace", id: "req_7" },
    ];
    const expected = [
      "1 grace req_7",
      "5 queue req_1",
      "5 queue req_3",
      "5 confirm mat_4",
      "5 confirm mat_9",
      "5 grace req_2",
    ];
    // Every rotation and the reverse of the list give the same order.
    for (let k = 0; k < items.length; k++) {
      for (const list of [
        [...items.slice(k), ...items.slice(0, k)],
        [...items.slice(k), ...items.slice(0, k)].reverse(),
      ]) {
        const heap = new DeadlineHeap();
        for (const d of list) heap.push(d);
        const out: string[] = [];
        for (let d = heap.pop(); d; d = heap.pop()) out.push(`${d.at} ${d.kind} ${d.id}`);
        assert.deepEqual(out, expected);
      }
    }
  });
});

describe("queue timeout", () => {
  test("a waiting request times out at expiresAt: timeout, close 4008, TIMED_OUT", () => {
    const h = new Harness();
    const a = h.join("A").request.id;
    h.take("A");
    assert.equal(h.nextDeadline(), T0 + 60 * SEC);
    h.at(T0 + 60 * SEC - 1);
    assert.deepEqual(h.kinds("A"), [], "not a millisecond early");
    assert.deepEqual(h.at(T0 + 60 * SEC), { expired: 1 });
    assert.deepEqual(h.take("A"), [
      { kind: "frame", frame: { type: "timeout", requestId: a } },
      { kind: "close", code: 4008, reason: "queue timeout" },
    ]);
    assert.equal(h.row(a).status, "TIMED_OUT");
    assert.equal(h.row(a).outcome, "queue_timeout");
    assert.equal(h.row(a).endedAt, T0 + 60 * SEC);
    assert.equal(h.live("A"), undefined);
    assert.equal(h.nextDeadline(), null);
  });

  test("expireDue twice at the same time, or again later, changes nothing extra", () => {
    const h = new Harness();
    h.join("A");
    h.take("A");
    h.at(T0 + 60 * SEC);
    assert.deepEqual(h.kinds("A"), ["timeout", "close:4008"]);
    assert.deepEqual(h.expire(), { expired: 0 });
    assert.equal(h.lastStep?.wroteAnything, false);
    assert.deepEqual(h.advance(500 * SEC), { expired: 0 });
    assert.equal(h.lastStep?.wroteAnything, false);
    assert.deepEqual(h.kinds("A"), []);
  });

  test("a late alarm still times the request out, once", () => {
    const h = new Harness();
    h.join("A");
    h.take("A");
    assert.deepEqual(h.at(T0 + 95 * SEC), { expired: 1 });
    assert.deepEqual(h.kinds("A"), ["timeout", "close:4008"]);
    assert.deepEqual(h.at(T0 + 96 * SEC), { expired: 0 });
  });

  test("the queue clock pauses during confirmation: the requeued user keeps the time they had left", () => {
    const h = new Harness();
    const a = h.join("A").request.id; // expires at T0+60s
    h.at(T0 + 15 * SEC);
    h.join("B"); // matched at 15 s: A had 45 s left
    const matchId = matchIdOf(h.frames("A"));
    h.clearInboxes();
    assert.equal(h.row(a).pausedRemainingMs, 45 * SEC);
    // The old queue deadline (60 s) passes during confirmation and does nothing.
    h.at(T0 + 30 * SEC);
    h.decline("B", matchId);
    const fa = h.frames("A");
    expectFrame(fa[1], "queued", { requestId: a, expiresAt: iso(T0 + 30 * SEC + 45 * SEC) });
    h.at(T0 + 60 * SEC);
    assert.deepEqual(h.kinds("A"), [], "the stale 60 s deadline does not fire");
    assert.equal(h.nextDeadline(), T0 + 75 * SEC);
    h.at(T0 + 75 * SEC);
    assert.deepEqual(h.kinds("A"), ["timeout", "close:4008"]);
    assert.equal(h.row(a).status, "TIMED_OUT");
  });
});

describe("confirm timeout", () => {
  test("one side confirmed: confirmer gets partner_timeout then queued; the other confirm_timeout", () => {
    const h = new Harness();
    const a = h.join("A").request.id;
    h.at(T0 + 10 * SEC);
    const b = h.join("B").request.id;
    const matchId = matchIdOf(h.frames("A"));
    h.confirm("A", matchId);
    h.clearInboxes();
    assert.equal(h.nextDeadline(), T0 + 30 * SEC);
    h.at(T0 + 30 * SEC - 1);
    assert.deepEqual(h.kinds("A"), []);
    assert.deepEqual(h.at(T0 + 30 * SEC), { expired: 1 });
    const fa = h.frames("A");
    expectFrame(fa[0], "match_cancelled", { matchId, reason: "partner_timeout" });
    // A had 50 s left when matched at 10 s; the clock resumes at 30 s.
    expectFrame(fa[1], "queued", { requestId: a, position: 1, expiresAt: iso(T0 + 80 * SEC) });
    assert.equal(fa.length, 2);
    assert.deepEqual(h.take("B"), [
      { kind: "frame", frame: { type: "match_cancelled", matchId, reason: "confirm_timeout" } },
      { kind: "close", code: 1000, reason: "confirm timeout" },
    ]);
    assert.equal(h.row(a).status, "PENDING");
    assert.equal(h.row(b).status, "TIMED_OUT");
    assert.equal(h.row(b).outcome, "confirm_timeout");
    assert.equal(h.matchRow(matchId).status, "cancelled");
    assert.equal(h.matchRow(matchId).reason, "confirm_timeout");
    assert.deepEqual(h.expire(), { expired: 0 }, "a second alarm at the same time does nothing");
    assert.equal(h.lastStep?.wroteAnything, false);
  });

  test("neither confirmed: both get confirm_timeout, both TIMED_OUT, nobody requeued", () => {
    const h = new Harness();
    const a = h.join("A").request.id;
    const b = h.join("B").request.id;
    const matchId = matchIdOf(h.frames("A"));
    h.clearInboxes();
    h.at(T0 + 20 * SEC);
    for (const u of ["A", "B"]) {
      assert.deepEqual(h.take(u), [
        { kind: "frame", frame: { type: "match_cancelled", matchId, reason: "confirm_timeout" } },
        { kind: "close", code: 1000, reason: "confirm timeout" },
      ]);
    }
    assert.equal(h.row(a).status, "TIMED_OUT");
    assert.equal(h.row(b).status, "TIMED_OUT");
    assert.deepEqual(h.state.queue, []);
    assert.equal(h.nextDeadline(), null);
    h.advance(120 * SEC);
    assert.deepEqual(h.kinds("A"), []);
  });

  test("the requeued confirmer is paired at once with a waiting user", () => {
    const h = new Harness();
    h.join("A");
    h.join("B");
    h.join("C");
    const matchId = matchIdOf(h.frames("A"));
    h.confirm("B", matchId);
    h.clearInboxes();
    h.at(T0 + 20 * SEC);
    assert.deepEqual(h.kinds("B"), ["match_cancelled", "queued", "match_found"]);
    assert.deepEqual(h.kinds("C"), ["match_found"]);
    assert.deepEqual(h.kinds("A"), ["match_cancelled", "close:1000"]);
  });

  test("a confirmation after the window closed is refused", () => {
    const h = new Harness();
    h.join("A");
    h.join("B");
    const matchId = matchIdOf(h.frames("A"));
    h.clock.now = T0 + 20 * SEC; // the alarm has not run yet; the actor runs expireDue first
    h.expire();
    const res = h.confirm("A", matchId);
    assert.equal(!res.ok && res.code, "no_live_request");
  });
});

describe("reconnect grace", () => {
  test("a reconnect within the grace resumes the same request, and the grace deadline no longer fires", () => {
    const h = new Harness();
    const a = h.join("A").request.id;
    h.take("A");
    h.at(T0 + 5 * SEC);
    h.disconnect("A");
    assert.equal(h.row(a).graceUntil, T0 + 15 * SEC);
    assert.equal(h.nextDeadline(), T0 + 15 * SEC);
    h.at(T0 + 14 * SEC);
    const res = h.join("A");
    assert.equal(res.resumed, true);
    assert.equal(res.request.id, a);
    expectFrame(h.frames("A")[0], "queued", { requestId: a, position: 1 });
    assert.equal(h.row(a).graceUntil, null, "the cleared grace is persisted");
    assert.equal(h.nextDeadline(), T0 + 60 * SEC, "the stale grace entry is skipped");
    h.at(T0 + 15 * SEC);
    assert.equal(h.live("A")?.id, a);
    assert.equal(h.row(a).status, "PENDING");
  });

  test("past the grace a waiting request is CANCELLED (no frames: nobody is connected)", () => {
    const h = new Harness();
    const a = h.join("A").request.id;
    h.take("A");
    h.disconnect("A");
    h.at(T0 + 10 * SEC);
    assert.equal(h.row(a).status, "CANCELLED");
    assert.equal(h.row(a).outcome, "disconnected");
    assert.equal(h.live("A"), undefined);
    assert.deepEqual(h.kinds("A"), []);
    assert.equal(h.nextDeadline(), null);
  });

  test("past the grace during confirmation: the partner gets partner_left and is requeued", () => {
    const h = new Harness();
    h.join("A");
    h.join("B");
    const matchId = matchIdOf(h.frames("A"));
    const b = h.live("B")!.id;
    h.confirm("A", matchId);
    h.clearInboxes();
    h.at(T0 + 2 * SEC);
    h.disconnect("B");
    h.at(T0 + 12 * SEC);
    const fa = h.frames("A");
    expectFrame(fa[0], "match_cancelled", { matchId, reason: "partner_left" });
    expectFrame(fa[1], "queued", { position: 1, expiresAt: iso(T0 + 12 * SEC + 60 * SEC) });
    assert.equal(h.row(b).status, "CANCELLED");
    assert.equal(h.matchRow(matchId).reason, "partner_left");
    // The confirm window of the dead match does not fire later.
    h.at(T0 + 20 * SEC);
    assert.deepEqual(h.kinds("A"), []);
  });

  test("a second disconnect moves the grace; the earlier entry is stale", () => {
    const h = new Harness();
    const a = h.join("A").request.id;
    h.disconnect("A"); // grace to 10 s
    h.at(T0 + 4 * SEC);
    h.join("A");
    h.at(T0 + 6 * SEC);
    h.disconnect("A"); // grace to 16 s
    assert.equal(h.nextDeadline(), T0 + 16 * SEC);
    h.at(T0 + 10 * SEC);
    assert.equal(h.live("A")?.id, a);
    h.at(T0 + 16 * SEC);
    assert.equal(h.row(a).status, "CANCELLED");
  });

  test("disconnect without a live request writes nothing", () => {
    const h = new Harness();
    assert.deepEqual(h.disconnect("A"), { ok: true });
    assert.equal(h.lastStep?.wroteAnything, false);
    assert.equal(h.nextDeadline(), null);
  });
});

describe("nextDeadline", () => {
  test("returns the earliest current deadline across kinds, skipping stale ones", () => {
    const h = new Harness();
    h.join("A"); // queue 60 s
    h.at(T0 + 1 * SEC);
    h.join("B"); // matched: confirm 21 s; A's queue entry is now stale
    const matchId = matchIdOf(h.frames("A"));
    h.at(T0 + 2 * SEC);
    h.join("C"); // queue 62 s
    assert.equal(h.nextDeadline(), T0 + 21 * SEC);
    h.at(T0 + 5 * SEC);
    h.disconnect("C"); // grace 15 s
    assert.equal(h.nextDeadline(), T0 + 15 * SEC);
    h.join("C"); // grace cleared
    assert.equal(h.nextDeadline(), T0 + 21 * SEC);
    h.confirm("A", matchId);
    h.confirm("B", matchId); // ready: confirm deadline gone
    assert.equal(h.nextDeadline(), T0 + 62 * SEC);
    h.leave("C");
    assert.equal(h.nextDeadline(), null);
  });

  test("a match being set up has no confirm deadline", () => {
    const h = new Harness({ orchestrate: true });
    h.join("A");
    h.join("B");
    const matchId = matchIdOf(h.frames("A"));
    h.confirm("A", matchId);
    h.confirm("B", matchId);
    assert.equal(h.nextDeadline(), null);
  });
});

describe("deadlines at the same instant", () => {
  test("a request whose queue time ends at the instant a partner is requeued is not paired", () => {
    // A queue timeout of 20 s makes C's queue deadline the very instant A and B's window ends.
    const h3 = new Harness({ queueTimeoutMs: 20 * SEC });
    h3.join("A");
    h3.join("B");
    const m3 = matchIdOf(h3.frames("A"));
    const c = h3.join("C").request.id; // C expires at 20 s, the confirm window also ends at 20 s
    h3.confirm("A", m3);
    h3.clearInboxes();
    h3.at(T0 + 20 * SEC);
    assert.deepEqual(h3.kinds("C"), ["timeout", "close:4008"], "C's time was up: it is not paired");
    assert.equal(h3.row(c).status, "TIMED_OUT");
    assert.deepEqual(h3.kinds("A"), ["match_cancelled", "queued"]);
    assert.equal(h3.live("A")?.status, "PENDING");
  });
});

describe("late alarms and evictions", () => {
  /** u4 and u3 are matched at T0 and both drop; their graces end at the same instant. */
  function bothDrop(evict: boolean) {
    const h = new Harness();
    h.join("u4");
    h.join("u3");
    h.disconnect("u3");
    h.disconnect("u4");
    if (evict) h.evict();
    h.clearInboxes();
    h.advance(20 * SEC);
    return { u3: h.kinds("u3"), u4: h.kinds("u4") };
  }

  test("deadlines due at the same instant apply in the same order with or without an eviction", () => {
    const kept = bothDrop(false);
    const evicted = bothDrop(true);
    assert.deepEqual(kept, evicted);
    // Ties go by id: u4's request is the older, so u4's grace ends first and u3 hears partner_left.
    assert.deepEqual(kept, { u4: [], u3: ["match_cancelled", "queued"] });
  });

  test("a late alarm applies deadlines in the order they fell due, ignoring stale entries", () => {
    const h = new Harness({ confirmTimeoutMs: 45 * SEC });
    const x = h.join("X").request.id; // X's first queue deadline: 60 s
    h.at(T0 + 10 * SEC);
    h.join("Y"); // X and Y matched until 55 s: X has 50 s of queue time left
    const mXY = matchIdOf(h.frames("X"));
    h.at(T0 + 13 * SEC);
    h.join("C");
    h.join("D"); // C and D matched until 58 s; neither will confirm
    h.at(T0 + 42 * SEC);
    h.join("A");
    h.join("B"); // A and B matched, window ends at 87 s
    const mAB = matchIdOf(h.frames("A"));
    h.confirm("A", mAB);
    h.at(T0 + 50 * SEC);
    h.decline("Y", mXY); // X waits again, until 100 s; its 60 s entry is stale
    h.clearInboxes();
    // The actor's next alarm is for 58 s (the stale 60 s entry sits behind it in the heap).
    assert.equal(h.nextDeadline(), T0 + 58 * SEC);
    // That alarm runs late, at 105 s.
    h.at(T0 + 105 * SEC);
    // At 87 s X was still waiting (until 100 s), so A, back in the queue, is paired with X,
    // exactly as with an alarm on time or after an eviction (which drops stale entries).
    assert.deepEqual(h.kinds("X"), ["match_found"]);
    assert.deepEqual(h.kinds("A"), ["match_cancelled", "queued", "match_found"]);
    assert.equal(h.row(x).status, "MATCHED");
    assert.deepEqual(h.kinds("C"), ["match_cancelled", "close:1000"]);
  });
});

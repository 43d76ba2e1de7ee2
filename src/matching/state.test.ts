import assert from "node:assert/strict";
import { describe, test } from "node:test";
import {
  defaultSettings,
  type Event,
  Harness,
  matchIdOf,
  requestRow,
  SEC,
  T0,
} from "../../test/core/testHarness.ts";
import { type BucketState, createBucketState, dequeue, enqueue, restoreBucketState } from "./state.ts";
import type { MatchRequest } from "./types.ts";

/** The same story on two harnesses; `evictAt` lists the steps after which the second is evicted. */
function twins(story: (h: Harness, evictHere: () => void) => void) {
  const kept = new Harness();
  const evicted = new Harness();
  story(kept, () => {});
  story(evicted, () => evicted.evict());
  return { kept, evicted };
}

/**
 * Wait statistics live in memory only (`WaitStats` is not persisted), so after an eviction
 * `estimatedWaitMs` starts again from null; everything else must be identical.
 */
const withoutEstimate = (events: Event[] | undefined) =>
  events?.map((e) =>
    e.kind === "frame" && e.frame.type === "queued" ? { ...e, frame: { ...e.frame, estimatedWaitMs: 0 } } : e,
  );

function sameEverything(a: Harness, b: Harness): void {
  for (const u of new Set([...a.history.keys(), ...b.history.keys()])) {
    assert.deepEqual(withoutEstimate(b.history.get(u)), withoutEstimate(a.history.get(u)), `events to ${u}`);
  }
  // Ranks are re-based on restore (the actor passes nextRank: 1): only their order matters.
  const rows = (h: Harness) => [...h.storedRequests.values()].map(({ rank: _, ...r }) => r);
  assert.deepEqual(rows(b), rows(a));
  assert.deepEqual([...b.storedMatches.entries()].sort(), [...a.storedMatches.entries()].sort());
  assert.deepEqual(b.queueUsers(), a.queueUsers());
  assert.equal(b.nextDeadline(), a.nextDeadline());
}

describe("restoreBucketState", () => {
  test("rebuilds queue, matches, graces and deadlines from the stored rows", () => {
    const h = new Harness();
    h.join("A");
    h.join("B"); // A-B proposed, confirm by 20 s
    const mAB = matchIdOf(h.frames("A"));
    h.confirm("B", mAB);
    h.at(T0 + 2 * SEC);
    h.join("C"); // C waits: queue until 62 s
    h.disconnect("C"); // grace until 12 s
    const before = h.state;
    h.evict();
    assert.notEqual(h.state, before);
    assert.deepEqual(h.queueUsers(), ["C"]);
    assert.deepEqual([...h.state.matches.keys()], [mAB]);
    assert.deepEqual(h.state.matches.get(mAB)?.confirmed, ["B"]);
    assert.equal(h.live("A")?.status, "MATCHED");
    assert.equal(h.live("C")?.graceUntil, T0 + 12 * SEC);
    assert.equal(h.nextDeadline(), T0 + 12 * SEC);
    h.join("C"); // resume: grace cleared
    assert.equal(h.nextDeadline(), T0 + 20 * SEC);
    h.at(T0 + 20 * SEC); // B confirmed, A did not
    assert.deepEqual(h.kinds("B").slice(-3), ["match_cancelled", "queued", "match_found"]);
    assert.deepEqual(h.matchRow(matchIdOf(h.frames("C"))).users, ["B", "C"], "B keeps its rank ahead of C");
  });

  test("an eviction at any point changes nothing a user or the records can see", () => {
    const story = (h: Harness, evictHere: () => void) => {
      h.join("A");
      evictHere();
      h.at(T0 + 5 * SEC);
      h.join("B");
      evictHere();
      h.join("C");
      const mAB = matchIdOf(h.history.get("A")!.flatMap((e) => (e.kind === "frame" ? [e.frame] : [])));
      h.confirm("A", mAB);
      evictHere();
      h.at(T0 + 8 * SEC);
      h.disconnect("C"); // C's grace ends at 18 s
      evictHere();
      h.at(T0 + 25 * SEC); // (late) C is cancelled; the window closes: B times out, A waits again
      evictHere();
      h.join("D"); // A and D matched
      h.at(T0 + 30 * SEC);
      evictHere();
      h.join("D");
      h.at(T0 + 200 * SEC); // A-D window: both time out
      evictHere();
      h.join("E");
      h.join("F");
      evictHere();
      h.join("G");
    };
    const { kept, evicted } = twins(story);
    sameEverything(kept, evicted);
  });

  test("ignores ended rows and accepts rows in any order", () => {
    const h = new Harness();
    for (const u of ["A", "B", "C", "D", "E"]) h.join(u);
    h.leave("E");
    h.join("F");
    h.join("G");
    h.leave("G");
    // Live: A-B, C-D matched; F waits. Ended: E, G.
    const rows = [...h.storedRequests.values()].reverse();
    const s = restoreBucketState(h.bucket, h.settings, {
      requests: rows.map((r) => ({ ...r })),
      matches: [...h.storedMatches.values()].reverse().map((m) => ({ ...m })),
      nextRank: 1,
    });
    assert.deepEqual([...s.byUser.keys()].sort(), ["A", "B", "C", "D", "F"]);
    assert.equal(s.matches.size, 2);
    assert.deepEqual(
      s.queue.map((id) => s.requests.get(id)!.userId),
      ["F"],
    );
    assert.ok(s.nextRank > Math.max(...[...s.requests.values()].map((r) => r.rank)));
  });

  test("a request joining after a restore queues behind every live request", () => {
    const h = new Harness();
    h.join("A");
    h.join("B");
    h.join("C"); // C waits with rank 3
    const mAB = matchIdOf(h.frames("A"));
    h.evict();
    h.join("D"); // paired with C
    h.evict();
    h.join("E"); // waits
    h.decline("A", mAB); // B (rank 2) goes ahead of E and is paired with it
    expectPartner(h, "B", "E");
  });

  test("a match being set up is restored without a confirm deadline", () => {
    const h = new Harness({ orchestrate: true });
    h.join("A");
    h.join("B");
    const m = matchIdOf(h.frames("A"));
    h.confirm("A", m);
    h.confirm("B", m);
    h.evict();
    assert.equal(h.state.matches.get(m)?.settingUp, true);
    assert.equal(h.nextDeadline(), null);
    assert.deepEqual(h.setupSucceeded(m, { questionId: "q", collaborationSessionId: null }), { ok: true });
    assert.equal(h.matchRow(m).status, "confirmed");
  });
});

function expectPartner(h: Harness, u: string, partner: string): void {
  const f = h.frames(u).findLast((x) => x.type === "match_found");
  assert.equal(f?.type === "match_found" && f.partnerId, partner);
}

describe("enqueue / dequeue", () => {
  const req = (id: string, rank: number): MatchRequest => requestRow({ id, userId: id, rank, expiresAt: 0 });
  const add = (s: BucketState, r: MatchRequest) => {
    s.requests.set(r.id, r);
    enqueue(s, r);
  };

  test("keeps the queue in rank order whatever the insertion order", () => {
    const s = createBucketState(
      { difficulty: "easy", topic: "arrays" },
      { ...defaultSettings, queueTimeoutMs: 1, confirmTimeoutMs: 1, reconnectGraceMs: 1 },
    );
    for (const rank of [5, 1, 9, 3, 7, 2, 8]) add(s, req(`r${rank}`, rank));
    assert.deepEqual(s.queue, ["r1", "r2", "r3", "r5", "r7", "r8", "r9"]);
    dequeue(s, "r1");
    dequeue(s, "r7");
    dequeue(s, "nope");
    assert.deepEqual(s.queue, ["r2", "r3", "r5", "r8", "r9"]);
  });
});

import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { expectFrame, Harness, iso, matchIdOf, SEC, T0 } from "../../test/core/testHarness.ts";

/** A and B joined at T0 and were matched; inboxes cleared. */
function matchedPair(h = new Harness()) {
  h.join("A");
  h.join("B");
  const matchId = matchIdOf(h.frames("A"));
  h.clearInboxes();
  return { h, matchId };
}

describe("join", () => {
  test("the first user is queued at position 1 with a request id and an expiry", () => {
    const h = new Harness();
    const res = h.join("A");
    assert.equal(res.resumed, false);
    const [f, ...rest] = h.frames("A");
    expectFrame(f, "queued", {
      requestId: res.request.id,
      difficulty: "easy",
      topic: "arrays",
      position: 1,
      waiting: 1,
      estimatedWaitMs: null,
      expiresAt: iso(T0 + 60 * SEC),
    });
    assert.deepEqual(rest, []);
    assert.equal(h.row(res.request.id).status, "PENDING");
  });

  test("a second user is paired at once: both get match_found naming each other", () => {
    const h = new Harness();
    const a = h.join("A").request;
    h.clock.now += 5 * SEC;
    const b = h.join("B").request;
    const fa = h.frames("A");
    const fb = h.frames("B");
    assert.equal(fa.length, 2);
    expectFrame(fa[0], "queued", { position: 1 });
    const ma = expectFrame(fa[1], "match_found", {
      partnerId: "B",
      difficulty: "easy",
      topic: "arrays",
      confirmBy: iso(T0 + 5 * SEC + 20 * SEC),
    });
    assert.equal(fb.length, 2);
    expectFrame(fb[0], "queued", { requestId: b.id, position: 2, waiting: 2 });
    expectFrame(fb[1], "match_found", { matchId: ma.matchId, partnerId: "A", confirmBy: ma.confirmBy });
    assert.equal(h.row(a.id).status, "MATCHED");
    assert.equal(h.row(b.id).status, "MATCHED");
    assert.equal(h.row(a.id).matchId, ma.matchId);
    assert.deepEqual(h.matchRow(ma.matchId).users, ["A", "B"]);
    assert.equal(h.matchRow(ma.matchId).status, "proposed");
    assert.deepEqual(h.state.queue, []);
  });

  test("pairing is FIFO, and a requeued user keeps their original rank", () => {
    const h = new Harness();
    h.join("A");
    h.join("B");
    h.join("C");
    const mAB = matchIdOf(h.frames("A"));
    assert.deepEqual(h.kinds("C"), ["queued"]);
    assert.deepEqual(h.queueUsers(), ["C"]);
    h.clearInboxes();

    h.clock.now += SEC;
    assert.deepEqual(h.decline("A", mAB), { ok: true });
    // B (rank 2) goes back ahead of C (rank 3) and is paired with C at once.
    const fb = h.frames("B");
    expectFrame(fb[0], "match_cancelled", { matchId: mAB, reason: "partner_declined" });
    expectFrame(fb[1], "queued", { position: 1 });
    const mBC = expectFrame(fb[2], "match_found", { partnerId: "C" }).matchId;
    assert.equal(fb.length, 3);
    expectFrame(h.frames("C")[0], "match_found", { matchId: mBC, partnerId: "B" });
    assert.deepEqual(h.matchRow(mBC).users, ["B", "C"], "B is the older request");

    h.join("D");
    assert.deepEqual(h.kinds("D"), ["queued"]);
    assert.deepEqual(h.queueUsers(), ["D"]);
    h.join("E");
    expectFrame(h.frames("E")[1], "match_found", { partnerId: "D" });
  });

  test("three waiting users: the oldest of the queue is paired with each newcomer", () => {
    const h = new Harness();
    for (const u of ["A", "B", "C", "D", "E", "F"]) h.join(u);
    const partners = ["A", "B", "C", "D", "E", "F"].map(
      (u) => h.frames(u).find((f) => f.type === "match_found")?.partnerId,
    );
    assert.deepEqual(partners, ["B", "A", "D", "C", "F", "E"]);
  });

  test("joining twice resumes the same request: queued again, no self-match", () => {
    const h = new Harness();
    const first = h.join("A");
    h.take("A");
    h.clock.now += 3 * SEC;
    const again = h.join("A");
    assert.equal(again.resumed, true);
    assert.equal(again.request.id, first.request.id);
    const frames = h.frames("A");
    assert.equal(frames.length, 1);
    expectFrame(frames[0], "queued", {
      requestId: first.request.id,
      position: 1,
      waiting: 1,
      expiresAt: iso(T0 + 60 * SEC),
    });
    assert.equal(h.state.requests.size, 1);
    assert.equal(h.state.matches.size, 0);
    assert.equal(h.lastStep?.wroteAnything, false, "a plain resume writes nothing");
  });

  test("resume while matched repeats match_found, and partner_confirmed if the partner confirmed", () => {
    const { h, matchId } = matchedPair();
    h.confirm("B", matchId);
    h.clearInboxes();
    h.join("A");
    const f = h.frames("A");
    expectFrame(f[0], "match_found", { matchId, partnerId: "B" });
    expectFrame(f[1], "partner_confirmed", { matchId });
    assert.equal(f.length, 2);
    assert.deepEqual(h.kinds("B"), []);
  });

  test("a user who ended a request can join again with a new request at the back", () => {
    const h = new Harness();
    const a1 = h.join("A").request.id;
    h.leave("A");
    h.join("B");
    const a2 = h.join("A").request.id;
    assert.notEqual(a1, a2);
    assert.equal(h.row(a1).status, "CANCELLED");
    expectFrame(h.frames("A").at(-1), "match_found", { partnerId: "B" });
  });

  test("estimatedWaitMs reports the median recent wait once matches happened", () => {
    const h = new Harness();
    h.join("A");
    h.clock.now += 10 * SEC;
    h.join("B"); // waits: A 10 s, B 0 s
    h.join("C");
    const q = expectFrame(h.frames("C")[0], "queued");
    assert.equal(q.estimatedWaitMs, 10 * SEC);
  });
});

describe("status", () => {
  test("answers queued for a waiting user, and refuses without a live request", () => {
    const h = new Harness();
    assert.deepEqual(h.status("A"), {
      ok: false,
      code: "no_live_request",
      message: "You have no live request in this bucket.",
    });
    assert.deepEqual(h.kinds("A"), []);
    h.join("A");
    h.take("A");
    assert.deepEqual(h.status("A"), { ok: true });
    expectFrame(h.frames("A")[0], "queued", { position: 1 });
  });
});

describe("confirm", () => {
  test("the first confirmation tells the partner; both confirmations make the match ready", () => {
    const { h, matchId } = matchedPair();
    const a = h.live("A")!.id;
    const b = h.live("B")!.id;
    const r1 = h.confirm("A", matchId);
    assert.ok(r1.ok && r1.state === "waiting_for_partner");
    assert.deepEqual(h.kinds("A"), []);
    assert.deepEqual(h.frames("B"), [{ type: "partner_confirmed", matchId }]);

    // Confirming twice changes nothing.
    const again = h.confirm("A", matchId);
    assert.ok(again.ok && again.state === "waiting_for_partner");
    assert.deepEqual(h.kinds("B"), []);
    assert.equal(h.lastStep?.wroteAnything, false);

    const r2 = h.confirm("B", matchId);
    assert.ok(r2.ok && r2.state === "ready");
    for (const [u, partner] of [
      ["A", "B"],
      ["B", "A"],
    ] as const) {
      const ev = h.take(u);
      assert.equal(ev.length, 2);
      assert.equal(ev[0]?.kind, "frame");
      if (ev[0]?.kind === "frame") {
        assert.deepEqual(ev[0].frame, {
          type: "match_ready",
          matchId,
          partnerId: partner,
          difficulty: "easy",
          topic: "arrays",
          role: h.matchRow(matchId).parts[u === "A" ? 0 : 1],
          questionId: null,
          collaborationSessionId: null,
        });
      }
      assert.deepEqual(ev[1], { kind: "close", code: 1000, reason: "match ready" });
    }
    assert.equal(h.row(a).status, "CONFIRMED");
    assert.equal(h.row(b).status, "CONFIRMED");
    assert.equal(h.row(a).outcome, "confirmed");
    assert.equal(h.matchRow(matchId).status, "confirmed");
    assert.deepEqual(h.matchRow(matchId).confirmed, ["A", "B"]);
    assert.equal(h.live("A"), undefined);
    assert.equal(h.state.matches.size, 0);
    assert.equal(h.nextDeadline(), null, "nothing timed is left");
  });

  test("a wrong, unknown or someone else's match id is refused with unknown_match and changes nothing", () => {
    const h = new Harness();
    for (const u of ["A", "B", "C", "D"]) h.join(u);
    const mAB = matchIdOf(h.frames("A"));
    const mCD = matchIdOf(h.frames("C"));
    h.clearInboxes();
    const before = JSON.stringify([...h.state.matches.values(), ...h.state.requests.values()]);
    for (const [user, id] of [
      ["A", mCD],
      ["A", "mat_does-not-exist"],
      ["A", "nonsense"],
      ["C", mAB],
    ] as const) {
      for (const act of ["confirm", "decline"] as const) {
        const res = h[act](user, id);
        assert.equal(res.ok, false);
        assert.equal(!res.ok && res.code, "unknown_match", `${act} ${user} ${id}`);
        assert.equal(h.lastStep?.wroteAnything, false);
        assert.equal(h.lastStep?.effects.length, 0);
      }
    }
    assert.equal(JSON.stringify([...h.state.matches.values(), ...h.state.requests.values()]), before);
    for (const u of ["A", "B", "C", "D"]) assert.deepEqual(h.kinds(u), []);
  });

  test("a match id from an earlier, ended match is refused", () => {
    const { h, matchId } = matchedPair();
    h.decline("A", matchId);
    h.join("C"); // B and C are matched now
    h.join("A");
    h.clearInboxes();
    const res = h.confirm("B", matchId);
    assert.equal(!res.ok && res.code, "unknown_match");
    assert.equal(h.live("B")!.status, "MATCHED");
  });

  test("commands from a user without a live request are refused with no_live_request", () => {
    const { h, matchId } = matchedPair();
    for (const res of [h.confirm("Z", matchId), h.decline("Z", matchId), h.leave("Z"), h.status("Z")]) {
      assert.equal(res.ok, false);
      assert.equal(!res.ok && res.code, "no_live_request");
    }
    assert.deepEqual(h.kinds("Z"), []);
    assert.deepEqual(h.kinds("A"), []);
  });
});

describe("decline", () => {
  test("the decliner is told `declined` and closed; the partner is told and requeued at the head", () => {
    const { h, matchId } = matchedPair();
    const a = h.live("A")!.id;
    const b = h.live("B")!.id;
    h.confirm("B", matchId);
    h.clearInboxes();
    assert.deepEqual(h.decline("A", matchId), { ok: true });
    assert.deepEqual(h.take("A"), [
      { kind: "frame", frame: { type: "match_cancelled", matchId, reason: "declined" } },
      { kind: "close", code: 1000, reason: "declined" },
    ]);
    const fb = h.frames("B");
    expectFrame(fb[0], "match_cancelled", { matchId, reason: "partner_declined" });
    expectFrame(fb[1], "queued", { requestId: b, position: 1, waiting: 1, expiresAt: iso(T0 + 60 * SEC) });
    assert.equal(fb.length, 2);
    assert.equal(h.row(a).status, "CANCELLED");
    assert.equal(h.row(a).outcome, "declined");
    assert.equal(h.row(b).status, "PENDING");
    assert.equal(h.row(b).matchId, null);
    assert.equal(h.matchRow(matchId).status, "cancelled");
    assert.equal(h.matchRow(matchId).reason, "declined");
  });

  test("a user may decline after confirming (they changed their mind)", () => {
    const { h, matchId } = matchedPair();
    h.confirm("A", matchId);
    h.clearInboxes();
    assert.deepEqual(h.decline("A", matchId), { ok: true });
    assert.deepEqual(h.kinds("A"), ["match_cancelled", "close:1000"]);
    assert.deepEqual(h.kinds("B"), ["match_cancelled", "queued"]);
  });
});

describe("leave", () => {
  test("leaving while waiting: cancelled, close 1000, request CANCELLED", () => {
    const h = new Harness();
    const a = h.join("A").request.id;
    h.take("A");
    assert.deepEqual(h.leave("A"), { ok: true });
    assert.deepEqual(h.take("A"), [
      { kind: "frame", frame: { type: "cancelled", requestId: a } },
      { kind: "close", code: 1000, reason: "left" },
    ]);
    assert.equal(h.row(a).status, "CANCELLED");
    assert.equal(h.row(a).outcome, "left");
    assert.deepEqual(h.state.queue, []);
    assert.equal(h.nextDeadline(), null);
    assert.equal(!h.leave("A").ok && "refused", "refused", "a second leave is refused");
  });

  test("leaving during confirmation: partner gets partner_left then queued, and is paired with the next", () => {
    const { h, matchId } = matchedPair();
    h.leave("B");
    assert.deepEqual(h.kinds("B"), ["cancelled", "close:1000"]);
    const fa = h.frames("A");
    expectFrame(fa[0], "match_cancelled", { matchId, reason: "partner_left" });
    expectFrame(fa[1], "queued", { position: 1 });
    assert.equal(h.matchRow(matchId).reason, "partner_left");
    h.join("C");
    expectFrame(h.frames("A")[0], "match_found", { partnerId: "C" });
  });
});

describe("orchestrated matches", () => {
  test("both confirmations emit one setup effect; success sends match_ready with the ids", () => {
    const { h, matchId } = matchedPair(new Harness({ orchestrate: true }));
    h.confirm("A", matchId);
    const r = h.confirm("B", matchId);
    assert.ok(r.ok && r.state === "setting_up");
    assert.equal(h.setups.length, 1);
    assert.equal(h.setups[0]?.id, matchId);
    assert.deepEqual(h.setups[0]?.users, ["A", "B"]);
    h.clearInboxes();
    // A repeated confirm while setting up changes nothing and asks for no second setup.
    const again = h.confirm("A", matchId);
    assert.ok(again.ok && again.state === "setting_up");
    assert.equal(h.setups.length, 1);
    // The confirm window no longer applies while the services are asked.
    h.advance(25 * SEC);
    assert.deepEqual(h.kinds("A"), []);
    assert.equal(h.live("A")?.status, "MATCHED");

    assert.deepEqual(h.setupSucceeded(matchId, { questionId: "q-1", collaborationSessionId: "s-1" }), {
      ok: true,
    });
    for (const [u, partner] of [
      ["A", "B"],
      ["B", "A"],
    ]) {
      const ev = h.take(u!);
      assert.equal(ev.length, 2);
      expectFrame(ev[0]?.kind === "frame" ? ev[0].frame : undefined, "match_ready", {
        matchId,
        partnerId: partner,
        questionId: "q-1",
        collaborationSessionId: "s-1",
      });
      assert.deepEqual(ev[1], { kind: "close", code: 1000, reason: "match ready" });
    }
    assert.equal(h.matchRow(matchId).questionId, "q-1");
    assert.equal(h.matchRow(matchId).status, "confirmed");
    assert.deepEqual(h.setupSucceeded(matchId, { questionId: "q-2", collaborationSessionId: null }), {
      ok: false,
    });
  });

  test("setup failure cancels with setup_failed and requeues both at their ranks", () => {
    const { h, matchId } = matchedPair(new Harness({ orchestrate: true }));
    h.join("C");
    h.clearInboxes();
    h.confirm("A", matchId);
    h.confirm("B", matchId);
    h.clearInboxes();
    assert.deepEqual(h.setupFailed(matchId), { ok: true });
    // Both go back ahead of C at their ranks (1 and 2), so FIFO pairs them with each other again.
    const fa = h.frames("A");
    expectFrame(fa[0], "match_cancelled", { matchId, reason: "setup_failed" });
    expectFrame(fa[1], "queued", { position: 1, waiting: 2 });
    const again = expectFrame(fa[2], "match_found", { partnerId: "B" }).matchId;
    assert.notEqual(again, matchId);
    const fb = h.frames("B");
    expectFrame(fb[0], "match_cancelled", { matchId, reason: "setup_failed" });
    expectFrame(fb[1], "queued", { position: 2, waiting: 3 });
    expectFrame(fb[2], "match_found", { matchId: again, partnerId: "A" });
    assert.deepEqual(h.queueUsers(), ["C"]);
    assert.equal(h.matchRow(matchId).status, "cancelled");
    assert.equal(h.matchRow(matchId).reason, "setup_failed");
    // Afterwards nobody who can be paired is left waiting.
    assert.ok(h.state.queue.length <= 1);
    assert.deepEqual(h.setupFailed(matchId), { ok: false });
    assert.deepEqual(h.setupSucceeded("mat_unknown0", { questionId: null, collaborationSessionId: null }), {
      ok: false,
    });
  });

  test("setupSucceeded/setupFailed for a match not being set up is ignored", () => {
    const { h, matchId } = matchedPair(new Harness({ orchestrate: true }));
    assert.deepEqual(h.setupSucceeded(matchId, { questionId: null, collaborationSessionId: null }), {
      ok: false,
    });
    assert.deepEqual(h.setupFailed(matchId), { ok: false });
    assert.equal(h.lastStep?.wroteAnything, false);
    assert.equal(h.state.matches.get(matchId)?.status, "proposed");
  });
});

import { evictDurableObject, runDurableObjectAlarm, runInDurableObject } from "cloudflare:test";
import { afterEach, describe, expect, it, vi } from "vitest";
import type { UserActor } from "../../src/challenges/UserActor.ts";
import { acceptChallengeAnswer, challengeListAnswer, challengeView } from "../../src/protocol/challenges.ts";
import { matchHistorySchema, matchRecordSchema } from "../../src/records/recordSchemas.ts";
import { api, newTopic, newUser } from "./httpClient.ts";
import { shardFor } from "./registryClient.ts";
import { tokenFor } from "./socketClient.ts";
import { openChannel, userStub } from "./userChannel.ts";

afterEach(() => {
  vi.useRealTimers();
});

async function challenge(from: string, to: string, extra: Record<string, unknown> = {}) {
  const res = await api(from, "POST", "/challenges", {
    opponentId: to,
    difficulty: "Easy",
    topic: newTopic(),
    ...extra,
  });
  return res;
}

async function pendingPair() {
  const [alice, bob] = [newUser("alice"), newUser("bob")];
  const res = await challenge(alice, bob);
  expect(res.status).toBe(201);
  return { alice, bob, c: challengeView.parse(res.json) };
}

describe("POST /challenges", () => {
  it("creates a pending challenge both sides see, the opponent's incoming and the challenger's outgoing", async () => {
    const [alice, bob] = [newUser("alice"), newUser("bob")];
    const res = await challenge(alice, bob, { role: "interviewer" });
    expect(res.status).toBe(201);
    const c = challengeView.parse(res.json);
    expect(c).toMatchObject({
      challengerId: alice,
      opponentId: bob,
      difficulty: "easy",
      status: "PENDING",
      matchId: null,
    });
    expect(Date.parse(c.expiresAt) - Date.parse(c.createdAt)).toBe(120_000);
    const incoming = challengeListAnswer.parse((await api(bob, "GET", "/challenges/incoming")).json);
    expect(incoming.map((x) => x.id)).toEqual([c.id]);
    const outgoing = challengeListAnswer.parse((await api(alice, "GET", "/challenges/outgoing")).json);
    expect(outgoing.map((x) => x.id)).toEqual([c.id]);
    expect(challengeListAnswer.parse((await api(alice, "GET", "/challenges/incoming")).json)).toEqual([]);
    for (const who of [alice, bob]) expect((await api(who, "GET", `/challenges/${c.id}`)).json).toEqual(c);
  });

  it("lists newest first", async () => {
    const bob = newUser("bob");
    const first = challengeView.parse((await challenge(newUser("a1"), bob)).json);
    const second = challengeView.parse((await challenge(newUser("a2"), bob)).json);
    const incoming = challengeListAnswer.parse((await api(bob, "GET", "/challenges/incoming")).json);
    expect(incoming.map((x) => x.id)).toEqual([second.id, first.id]);
  });

  it("refuses yourself (400), a bad body (400), and no token (401)", async () => {
    const alice = newUser("alice");
    expect((await challenge(alice, alice)).status).toBe(400);
    expect(
      (await api(alice, "POST", "/challenges", { opponentId: "x", difficulty: "impossible", topic: "a" }))
        .status,
    ).toBe(400);
    expect(
      (await api(null, "POST", "/challenges", { opponentId: "x", difficulty: "easy", topic: "a" })).status,
    ).toBe(401);
  });

  it("refuses 409 while a pending challenge between the two exists, either way round", async () => {
    const { alice, bob } = await pendingPair();
    const again = await challenge(alice, bob);
    expect(again.status).toBe(409);
    expect(again.json).toMatchObject({ error: { code: "challenge_exists" } });
    expect((await challenge(bob, alice)).status).toBe(409);
  });

  it("refuses 403 blocked when either one blocked the other", async () => {
    const [alice, bob, carol] = [newUser("alice"), newUser("bob"), newUser("carol")];
    expect((await api(bob, "PUT", `/me/blocks/${alice}`)).status).toBe(204);
    const refused = await challenge(alice, bob);
    expect(refused.status).toBe(403);
    expect(refused.json).toMatchObject({ error: { code: "blocked" } });
    expect((await api(alice, "PUT", `/me/blocks/${carol}`)).status).toBe(204);
    expect((await challenge(alice, carol)).status).toBe(403);
    expect((await challenge(carol, alice)).status).toBe(403);
  });

  it("refuses 409 when either side has a live request (someone queued)", async () => {
    const [alice, bob] = [newUser("alice"), newUser("bob")];
    const queued = await api(bob, "POST", "/request", { difficulty: "easy", topic: newTopic() });
    expect(queued.status).toBe(201);
    const refused = await challenge(alice, bob);
    expect(refused.status).toBe(409);
    expect(refused.json).toMatchObject({ error: { code: "already_queued" } });
    expect((await challenge(bob, alice)).status).toBe(409);
  });

  it("refuses 429 with Retry-After past 10 challenges a minute from one user, sending nothing", async () => {
    const spammer = newUser("spammer");
    for (let i = 0; i < 10; i++) expect((await challenge(spammer, newUser("target"))).status).toBe(201);
    const last = newUser("target");
    const refused = await challenge(spammer, last);
    expect([refused.status, refused.headers.get("Retry-After")]).toEqual([429, "60"]);
    expect(refused.json).toMatchObject({ error: { code: "rate_limited" } });
    expect(challengeListAnswer.parse((await api(last, "GET", "/challenges/incoming")).json)).toEqual([]);
    // Someone else is not held back by it.
    expect((await challenge(newUser("alice"), last)).status).toBe(201);
  });
});

describe("tenants", () => {
  it("a challenge reaches the opponent of the challenger's own tenant only", async () => {
    const [alice, bob] = [newUser("alice"), newUser("bob")];
    const acme = async (userId: string) => ({
      authorization: `Bearer ${await tokenFor(userId, { claims: { tenant_id: "acme" } })}`,
    });
    const sent = await api(
      null,
      "POST",
      "/challenges",
      { opponentId: bob, difficulty: "easy", topic: newTopic() },
      await acme(alice),
    );
    expect(sent.status).toBe(201);
    const id = challengeView.parse(sent.json).id;
    const acmeBob = challengeListAnswer.parse(
      (await api(null, "GET", "/challenges/incoming", undefined, await acme(bob))).json,
    );
    expect(acmeBob.map((c) => c.id)).toEqual([id]);
    // The same id in the default tenant is another user, who never hears of it.
    expect(challengeListAnswer.parse((await api(bob, "GET", "/challenges/incoming")).json)).toEqual([]);
    expect((await api(bob, "POST", `/challenges/${id}/accept`)).status).toBe(404);
  });
});

describe("GET /challenges/{id}", () => {
  it("is 404 for anyone who is not a party, and for an id that is no challenge's", async () => {
    const { c } = await pendingPair();
    expect((await api(newUser("eve"), "GET", `/challenges/${c.id}`)).status).toBe(404);
    expect((await api(newUser("eve"), "GET", "/challenges/nonsense")).status).toBe(404);
    expect((await api(newUser("eve"), "POST", `/challenges/${c.id}/accept`)).status).toBe(404);
    expect((await api(newUser("eve"), "POST", `/challenges/${c.id}/decline`)).status).toBe(404);
    expect((await api(newUser("eve"), "DELETE", `/challenges/${c.id}`)).status).toBe(404);
  });
});

describe("POST /challenges/{id}/accept", () => {
  it("makes a match both count as confirmed, in the records and both histories, and frees both users", async () => {
    const { alice, bob, c } = await pendingPair();
    const res = await api(bob, "POST", `/challenges/${c.id}/accept`);
    expect(res.status).toBe(200);
    const answer = acceptChallengeAnswer.parse(res.json);
    expect(answer).toMatchObject({ partner_id: alice, question_id: null, collaboration_session_id: null });
    const after = challengeView.parse((await api(alice, "GET", `/challenges/${c.id}`)).json);
    expect(after).toMatchObject({ status: "ACCEPTED", matchId: answer.match_id });
    expect(challengeListAnswer.parse((await api(bob, "GET", "/challenges/incoming")).json)).toEqual([]);
    expect(challengeListAnswer.parse((await api(alice, "GET", "/challenges/outgoing")).json)).toEqual([]);

    // The durable record, once the owner's outbox has delivered it.
    const record = await eventually(async () => {
      const r = await api(alice, "GET", `/matches/${answer.match_id}`);
      return r.status === 200 ? matchRecordSchema.parse(r.json) : undefined;
    });
    expect(record).toMatchObject({ status: "confirmed", partnerId: bob, difficulty: "easy", topic: c.topic });
    expect(record.userIds).toEqual([alice, bob]);
    // The claim's request id is in the record, but a challenge's match has no request to show.
    expect((await api(alice, "GET", `/request/${record.requestId}`)).status).toBe(404);
    expect((await api(alice, "DELETE", `/request/${record.requestId}`)).status).toBe(404);
    const bobs = matchHistorySchema.parse((await api(bob, "GET", "/me/matches")).json);
    expect(bobs.matches.map((m) => m.id)).toContain(answer.match_id);
    expect(bobs.matches.find((m) => m.id === answer.match_id)?.role).toBe(answer.role);

    // Both claims are free again: each may queue at once.
    for (const who of [alice, bob]) {
      expect((await api(who, "POST", "/request", { difficulty: "easy", topic: newTopic() })).status).toBe(
        201,
      );
    }
  });

  it("gives the challenger the part asked for", async () => {
    const [alice, bob] = [newUser("alice"), newUser("bob")];
    const c = challengeView.parse((await challenge(alice, bob, { role: "interviewee" })).json);
    const answer = acceptChallengeAnswer.parse((await api(bob, "POST", `/challenges/${c.id}/accept`)).json);
    expect(answer.role).toBe("interviewer");
  });

  it("is the opponent's only (409 for the challenger), and 409 once decided", async () => {
    const { alice, bob, c } = await pendingPair();
    expect((await api(alice, "POST", `/challenges/${c.id}/accept`)).status).toBe(409);
    expect((await api(alice, "POST", `/challenges/${c.id}/decline`)).status).toBe(409);
    expect((await api(bob, "DELETE", `/challenges/${c.id}`)).status).toBe(409);
    expect((await api(bob, "POST", `/challenges/${c.id}/accept`)).status).toBe(200);
    expect((await api(bob, "POST", `/challenges/${c.id}/accept`)).status).toBe(409);
    expect((await api(bob, "POST", `/challenges/${c.id}/decline`)).status).toBe(409);
    expect((await api(alice, "DELETE", `/challenges/${c.id}`)).status).toBe(409);
  });

  it("refuses 409 when the challenger queued meanwhile, and the challenge stays pending", async () => {
    const { alice, bob, c } = await pendingPair();
    expect((await api(alice, "POST", "/request", { difficulty: "easy", topic: newTopic() })).status).toBe(
      201,
    );
    const refused = await api(bob, "POST", `/challenges/${c.id}/accept`);
    expect(refused.status).toBe(409);
    expect(refused.json).toMatchObject({ error: { code: "already_queued" } });
    expect(challengeView.parse((await api(bob, "GET", `/challenges/${c.id}`)).json).status).toBe("PENDING");
    // And bob was not left holding a claim: he may queue.
    expect((await api(bob, "POST", "/request", { difficulty: "easy", topic: newTopic() })).status).toBe(201);
  });

  it("a block ends pending challenges between the two: one received is declined, one sent cancelled", async () => {
    const { alice, bob, c } = await pendingPair();
    const toCarol = challengeView.parse((await challenge(bob, newUser("carol"))).json);
    expect((await api(bob, "PUT", `/me/blocks/${alice}`)).status).toBe(204);
    expect(challengeView.parse((await api(alice, "GET", `/challenges/${c.id}`)).json).status).toBe(
      "DECLINED",
    );
    expect(challengeListAnswer.parse((await api(bob, "GET", "/challenges/incoming")).json)).toEqual([]);
    // Challenges with anyone else are untouched.
    const sent = challengeListAnswer.parse((await api(bob, "GET", "/challenges/outgoing")).json);
    expect(sent.map((x) => x.id)).toEqual([toCarol.id]);

    const [gus, hal] = [newUser("gus"), newUser("hal")];
    const fromGus = challengeView.parse((await challenge(gus, hal)).json);
    expect((await api(gus, "PUT", `/me/blocks/${hal}`)).status).toBe(204);
    expect(challengeView.parse((await api(hal, "GET", `/challenges/${fromGus.id}`)).json).status).toBe(
      "CANCELLED",
    );
  });

  it("refuses the accept 403 when a block reached the registry but not the challenge (a race)", async () => {
    const { alice, bob, c } = await pendingPair();
    // Straight to alice's shard, as a block whose follow-up to the challenges was still on its way.
    await shardFor(alice).setBlock(alice, bob, true);
    const refused = await api(bob, "POST", `/challenges/${c.id}/accept`);
    expect(refused.status).toBe(403);
    expect(refused.json).toMatchObject({ error: { code: "blocked" } });
  });

  it("accepted while the challenger joins a bucket: never both live at once", async () => {
    const { alice, bob, c } = await pendingPair();
    const topic = newTopic();
    const [accepted, joined] = await Promise.all([
      api(bob, "POST", `/challenges/${c.id}/accept`),
      api(alice, "POST", "/request", { difficulty: "easy", topic }),
    ]);
    // With no services the accepted match is set up (and its claims freed) at once, so the join
    // may also go through after it; what never happens is both refused, or the accept refused
    // for anything but the live request.
    expect(accepted.status === 200 || joined.status === 201).toBe(true);
    if (accepted.status !== 200) {
      expect(accepted.status).toBe(409);
      expect(challengeView.parse((await api(bob, "GET", `/challenges/${c.id}`)).json).status).toBe("PENDING");
    }
    if (joined.status !== 201) {
      expect(joined.status).toBe(409);
      expect(joined.json).toMatchObject({ error: { code: "already_queued" } });
    }
  });
});

describe("eviction", () => {
  it("a pending challenge survives both objects being evicted: listed, then accepted, and a tab still hears it", async () => {
    const { alice, bob, c } = await pendingPair();
    const tab = await openChannel(alice);
    await evictDurableObject(userStub(bob));
    await evictDurableObject(userStub(alice)).catch(() => undefined);
    const incoming = challengeListAnswer.parse((await api(bob, "GET", "/challenges/incoming")).json);
    expect(incoming.map((x) => x.id)).toEqual([c.id]);
    expect((await api(bob, "POST", `/challenges/${c.id}/accept`)).status).toBe(200);
    expect((await tab.nextOf("challenge_accepted")).challenge.id).toBe(c.id);
    tab.close();
  });
});

describe("decline and cancel", () => {
  it("decline: the opponent's; the challenge ends DECLINED", async () => {
    const { alice, bob, c } = await pendingPair();
    const res = await api(bob, "POST", `/challenges/${c.id}/decline`);
    expect(res.status).toBe(200);
    expect(challengeView.parse(res.json).status).toBe("DECLINED");
    expect(challengeView.parse((await api(alice, "GET", `/challenges/${c.id}`)).json).status).toBe(
      "DECLINED",
    );
    expect(challengeListAnswer.parse((await api(alice, "GET", "/challenges/outgoing")).json)).toEqual([]);
    // A new challenge between them is fine now.
    expect((await challenge(alice, bob)).status).toBe(201);
  });

  it("cancel: the challenger's; the challenge ends CANCELLED and leaves the opponent's list", async () => {
    const { alice, bob, c } = await pendingPair();
    const res = await api(alice, "DELETE", `/challenges/${c.id}`);
    expect(res.status).toBe(200);
    expect(challengeView.parse(res.json).status).toBe("CANCELLED");
    expect(challengeView.parse((await api(bob, "GET", `/challenges/${c.id}`)).json).status).toBe("CANCELLED");
    expect(challengeListAnswer.parse((await api(bob, "GET", "/challenges/incoming")).json)).toEqual([]);
    expect((await api(bob, "POST", `/challenges/${c.id}/accept`)).status).toBe(409);
  });

  it("accept racing decline: exactly one wins, and the status says which", async () => {
    for (let i = 0; i < 3; i++) {
      const { bob, c } = await pendingPair();
      const [accepted, declined] = await Promise.all([
        api(bob, "POST", `/challenges/${c.id}/accept`),
        api(bob, "POST", `/challenges/${c.id}/decline`),
      ]);
      expect([accepted.status, declined.status].filter((s) => s === 200)).toHaveLength(1);
      expect([accepted.status, declined.status].filter((s) => s === 409)).toHaveLength(1);
      const status = challengeView.parse((await api(bob, "GET", `/challenges/${c.id}`)).json).status;
      expect(status).toBe(accepted.status === 200 ? "ACCEPTED" : "DECLINED");
    }
  });
});

describe("expiry (CHALLENGE_TTL_SECONDS, by the owner's alarm)", () => {
  it("expires with the alarm: EXPIRED for both, 410 to accept, gone from the lists, both tabs told", async () => {
    const { alice, bob, c } = await pendingPair();
    const [aliceTab, bobTab] = [await openChannel(alice), await openChannel(bob)];
    vi.useFakeTimers({ toFake: ["Date"] });
    vi.setSystemTime(Date.parse(c.expiresAt) + 1);
    expect(await runDurableObjectAlarm(userStub(bob))).toBe(true);
    expect((await bobTab.nextOf("challenge_expired")).challenge).toMatchObject({
      id: c.id,
      status: "EXPIRED",
    });
    expect((await aliceTab.nextOf("challenge_expired")).challenge.id).toBe(c.id);
    const accept = await api(bob, "POST", `/challenges/${c.id}/accept`);
    expect(accept.status).toBe(410);
    expect(accept.json).toMatchObject({ error: { code: "challenge_expired" } });
    expect((await api(bob, "POST", `/challenges/${c.id}/decline`)).status).toBe(410);
    expect((await api(alice, "DELETE", `/challenges/${c.id}`)).status).toBe(410);
    expect(challengeView.parse((await api(alice, "GET", `/challenges/${c.id}`)).json).status).toBe("EXPIRED");
    expect(challengeListAnswer.parse((await api(bob, "GET", "/challenges/incoming")).json)).toEqual([]);
    aliceTab.close();
    bobTab.close();
  });

  it("a late alarm changes nothing: past its time the challenge is expired already (410)", async () => {
    const { bob, c } = await pendingPair();
    vi.useFakeTimers({ toFake: ["Date"] });
    vi.setSystemTime(Date.parse(c.expiresAt));
    expect((await api(bob, "POST", `/challenges/${c.id}/accept`)).status).toBe(410);
    expect(challengeView.parse((await api(bob, "GET", `/challenges/${c.id}`)).json).status).toBe("EXPIRED");
  });

  it("accept racing expiry: exactly one outcome, told once, and the alarm never undoes an accept", async () => {
    for (const head of [0, 5, 20]) {
      const { alice, bob, c } = await pendingPair();
      vi.useRealTimers();
      const tab = await openChannel(alice);
      const accepting = api(bob, "POST", `/challenges/${c.id}/accept`);
      // Let the accept get a head start of a few ms (its claims out to the registry), then the
      // challenge's time is up and the alarm runs.
      await new Promise((r) => setTimeout(r, head));
      vi.useFakeTimers({ toFake: ["Date"] });
      vi.setSystemTime(Date.parse(c.expiresAt) + 1);
      const [accepted] = await Promise.all([accepting, runDurableObjectAlarm(userStub(bob))]);
      await runDurableObjectAlarm(userStub(bob));
      const status = challengeView.parse((await api(alice, "GET", `/challenges/${c.id}`)).json).status;
      expect(
        accepted.status === 200
          ? "ACCEPTED"
          : accepted.status === 410
            ? "EXPIRED"
            : `HTTP ${accepted.status}`,
      ).toBe(status);
      // The challenger hears the one outcome, never both.
      const heard = await tab.nextOf(status === "ACCEPTED" ? "challenge_accepted" : "challenge_expired");
      expect(heard.challenge.status).toBe(status);
      vi.useRealTimers();
      await new Promise((r) => setTimeout(r, 50));
      expect(tab.frames.filter((f) => f.type.startsWith("challenge_"))).toEqual([]);
      tab.close();
    }
  });
  it("an alarm that fires while an accept waits for its claims leaves the challenge to the accept", async () => {
    const { alice, bob, c } = await pendingPair();
    const tab = await openChannel(alice);
    const accepted = await runInDurableObject(userStub(bob), async (instance: UserActor) => {
      const accepting = instance.accept(c.id);
      // The accept is decided in time and its claims are out to the registry when the time is up.
      // (Microtasks only: the claims are calls to other objects, which cannot answer before a macrotask.)
      for (let i = 0; i < 20; i++) await Promise.resolve();
      vi.useFakeTimers({ toFake: ["Date"] });
      vi.setSystemTime(Date.parse(c.expiresAt) + 1);
      await instance.onAlarm();
      return accepting;
    });
    vi.useRealTimers();
    expect(accepted.ok).toBe(true);
    expect(challengeView.parse((await api(alice, "GET", `/challenges/${c.id}`)).json).status).toBe(
      "ACCEPTED",
    );
    expect((await tab.nextOf("challenge_accepted")).challenge.status).toBe("ACCEPTED");
    await new Promise((r) => setTimeout(r, 50));
    expect(tab.frames.filter((f) => f.type.startsWith("challenge_"))).toEqual([]);
    tab.close();
  });
});

describe("the user's channel", () => {
  it("pushes each challenge event to every open tab of both parties", async () => {
    const [alice, bob] = [newUser("alice"), newUser("bob")];
    const bobTabs = [await openChannel(bob), await openChannel(bob)];
    const aliceTabs = [await openChannel(alice), await openChannel(alice)];
    const c = challengeView.parse((await challenge(alice, bob)).json);
    for (const tab of bobTabs) expect((await tab.nextOf("challenge_received")).challenge).toEqual(c);

    const answer = acceptChallengeAnswer.parse((await api(bob, "POST", `/challenges/${c.id}/accept`)).json);
    for (const tab of aliceTabs) {
      const f = await tab.nextOf("challenge_accepted");
      expect(f.challenge).toMatchObject({ id: c.id, status: "ACCEPTED", matchId: answer.match_id });
      expect(f.match).toMatchObject({
        matchId: answer.match_id,
        partnerId: bob,
        difficulty: "easy",
        topic: c.topic,
      });
      expect(f.match.role).not.toBe(answer.role);
      // The match's fields are the frame's own too.
      expect(f).toMatchObject({ matchId: answer.match_id, partnerId: bob, role: f.match.role });
    }
    for (const tab of bobTabs) expect((await tab.nextOf("challenge_accepted")).match.partnerId).toBe(alice);

    const d = challengeView.parse((await challenge(alice, bob)).json);
    await api(bob, "POST", `/challenges/${d.id}/decline`);
    for (const tab of aliceTabs) expect((await tab.nextOf("challenge_declined")).challenge.id).toBe(d.id);
    const e = challengeView.parse((await challenge(alice, bob)).json);
    await api(alice, "DELETE", `/challenges/${e.id}`);
    for (const tab of bobTabs) expect((await tab.nextOf("challenge_cancelled")).challenge.id).toBe(e.id);
    for (const tab of [...aliceTabs, ...bobTabs]) tab.close();
  });
});

/** Poll until `read` answers (records reach Postgres from the outbox about a second later). */
async function eventually<T>(read: () => Promise<T | undefined>, timeoutMs = 8000): Promise<T> {
  const deadline = performance.now() + timeoutMs;
  for (;;) {
    const value = await read();
    if (value !== undefined) return value;
    if (performance.now() > deadline) throw new Error("timed out waiting for the record");
    await new Promise((r) => setTimeout(r, 200));
  }
}

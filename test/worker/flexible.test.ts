import { env, evictDurableObject, SELF } from "cloudflare:test";
import { afterEach, describe, expect, it, vi } from "vitest";
import { app } from "../../src/http/app.ts";
import { errorAnswer, queueFigures, requestView } from "../../src/protocol/http.ts";
import { api, newTopic, newUser } from "./httpClient.ts";
import { advanceAndRunAlarm, bucketStub, TestSocket, tokenFor, upgrade } from "./socketClient.ts";

/**
 * docs/protocol.md, "waiting in several buckets", through real sockets and HTTP: one request waiting in several
 * buckets, paired in whichever pairs it first and nowhere else, its frames on the home socket,
 * widening by alarm, survivors back in all their buckets, and evictions on either side.
 */

afterEach(() => {
  vi.useRealTimers();
});

/** Join `room` as `userId` with extra query (`&also=...&widen=1`); reads the first `queued`. */
async function joinWith(room: string, userId: string, query = "") {
  const res = await upgrade(room, userId, query);
  if (!res.webSocket) throw new Error(`upgrade refused: ${res.status} ${await res.text()}`);
  res.webSocket.accept();
  const socket = new TestSocket(res.webSocket);
  const queued = await socket.next("queued");
  return { socket, queued };
}

async function waiting(room: string, userId: string): Promise<number> {
  const [difficulty, topic] = room.split(".");
  const res = await api(userId, "GET", `/queues/${difficulty}/${topic}`);
  return queueFigures.parse(res.json).waiting;
}

/** `matcher_handovers_total{result}` as scraped now (every tenant's). */
async function handOvers(result: "granted" | "refused"): Promise<number> {
  const text = await (await SELF.fetch("https://matcher.test/metrics")).text();
  const line = text.split("\n").find((l) => l.startsWith(`matcher_handovers_total{result="${result}"}`));
  return Number(line?.split(" ").at(-1) ?? Number.NaN);
}

/** Poll a figure that settles once messages between buckets (or reports) have been delivered. */
async function eventually<T>(read: () => Promise<T>, want: T, what: string): Promise<void> {
  const deadline = performance.now() + 4000;
  let got = await read();
  while (got !== want) {
    if (performance.now() > deadline) throw new Error(`${what}: got ${String(got)}, want ${String(want)}`);
    await new Promise((r) => setTimeout(r, 20));
    got = await read();
  }
}

function rooms() {
  const t = newTopic();
  const u = newTopic();
  return { easy: `easy.${t}`, medium: `medium.${t}`, hard: `hard.${t}`, other: `easy.${u}`, t, u };
}

/** Alice waits at home in `easy` and also in `other`, where Bob joins and is paired with her. */
async function pairedInOther(r: ReturnType<typeof rooms>) {
  const alice = newUser("alice");
  const bob = newUser("bob");
  const a = await joinWith(r.easy, alice, `&also=${r.other}`);
  await eventually(() => waiting(r.other, bob), 1, "alice waits in the other bucket");
  const b = await joinWith(r.other, bob);
  const fb = await b.socket.next("match_found");
  expect(await a.socket.next("match_found")).toMatchObject({ matchId: fb.matchId, room: r.other });
  return { alice, bob, a, b, matchId: fb.matchId };
}

describe("flexible requests", () => {
  it("any-of: waits in two buckets, is paired in the second, hears it on the home socket and confirms there", async () => {
    const r = rooms();
    const alice = newUser("alice");
    const bob = newUser("bob");
    const a = await joinWith(r.easy, alice, `&also=${r.other}`);
    expect(a.queued.buckets).toEqual([r.easy, r.other]);
    await eventually(() => waiting(r.other, bob), 1, "alice waits in the other bucket too");
    const b = await joinWith(r.other, bob);
    const fa = await a.socket.next("match_found");
    const fb = await b.socket.next("match_found");
    expect(fa).toMatchObject({
      partnerId: bob,
      room: r.other,
      difficulty: "easy",
      topic: r.u,
      matchId: fb.matchId,
    });
    expect(fb).toMatchObject({ partnerId: alice, room: r.other });
    // Gone from its home queue while matched elsewhere.
    expect(await waiting(r.easy, bob)).toBe(0);
    a.socket.send({ type: "confirm", matchId: fa.matchId });
    await b.socket.next("partner_confirmed");
    b.socket.send({ type: "confirm", matchId: fa.matchId });
    expect(await a.socket.next("match_ready")).toMatchObject({ matchId: fa.matchId, partnerId: bob });
    expect(await b.socket.next("match_ready")).toMatchObject({ partnerId: alice });
    expect(await a.socket.closed()).toBe(1000);
    // Asked again over HTTP, the bucket that held the match answers it as ready.
    const again = await api(alice, "POST", "/confirm", { match_id: fa.matchId, confirmed: true });
    expect([again.status, again.json]).toMatchObject([200, { match_id: fa.matchId, partner_id: bob }]);
    // The HTTP view names the bucket that paired it; the one live request is freed.
    const view = requestView.parse((await api(alice, "GET", `/request/${a.queued.requestId}`)).json);
    expect(view).toMatchObject({ status: "CONFIRMED", room: r.other, topic: r.u, match: { partnerId: bob } });
    expect((await api(alice, "GET", "/me/request")).status).toBe(404);
    await eventually(() => waiting(r.easy, bob), 0, "nothing left at home");
  });

  it("over HTTP: also in the body, the request's view follows it, /confirm reaches the bucket holding the match", async () => {
    const r = rooms();
    const alice = newUser("alice");
    const bob = newUser("bob");
    const created = await api(alice, "POST", "/request", {
      difficulty: "easy",
      topic: r.t,
      also: [
        { difficulty: "Easy", topic: r.u },
        { difficulty: "easy", topic: r.t },
      ],
    });
    expect(created.status).toBe(201);
    const mine = requestView.parse(created.json);
    expect(mine.buckets).toEqual([r.easy, r.other]);
    await eventually(() => waiting(r.other, bob), 1, "alice waits in the other bucket too");
    const b = await joinWith(r.other, bob);
    const fb = await b.socket.next("match_found");
    let view = requestView.parse((await api(alice, "GET", `/request/${mine.id}`)).json);
    expect(view).toMatchObject({
      status: "MATCHED",
      room: r.other,
      match: { id: fb.matchId, partnerId: bob },
    });
    const waitingForBob = await api(alice, "POST", "/confirm", { match_id: fb.matchId, confirmed: true });
    expect(waitingForBob.status).toBe(202);
    await b.socket.next("partner_confirmed");
    b.socket.send({ type: "confirm", matchId: fb.matchId });
    await b.socket.next("match_ready");
    await eventually(
      async () => requestView.parse((await api(alice, "GET", `/request/${mine.id}`)).json).status,
      "CONFIRMED",
      "alice's request confirmed",
    );
    view = requestView.parse((await api(alice, "GET", `/request/${mine.id}`)).json);
    expect(view.match).toMatchObject({ status: "confirmed", youConfirmed: true, partnerConfirmed: true });
  });

  it("two buckets racing for one request make one match; the other bucket's user waits on and hears nothing", async () => {
    const r = rooms();
    const alice = newUser("alice");
    const bob = newUser("bob");
    const carol = newUser("carol");
    const b = await joinWith(r.medium, bob);
    const c = await joinWith(r.other, carol);
    // Both buckets get alice's placement at once, and both ask her home for her.
    const a = await joinWith(r.easy, alice, `&also=${r.medium},${r.other}`);
    const found = await a.socket.next("match_found");
    const [winner, loser] = found.partnerId === bob ? [b, c] : [c, b];
    expect((await winner.socket.next("match_found")).matchId).toBe(found.matchId);
    await a.socket.quiet(200);
    await loser.socket.quiet(200);
    const loserRoom = found.partnerId === bob ? r.other : r.medium;
    await eventually(() => waiting(loserRoom, bob), 1, "only the loser's own user waits there");
  });

  it("the home grants one request to one pair only, whichever asks first; the same ask again gets the same answer", async () => {
    const r = rooms();
    const alice = newUser("alice");
    const a = await joinWith(r.easy, alice, `&also=${r.medium},${r.other}`);
    const home = bucketStub(r.easy);
    const before = { granted: await handOvers("granted"), refused: await handOvers("refused") };
    // Deterministic: two asks race into the home; the actor decides them one at a time.
    const [first, second] = await Promise.all([
      home.handOver(r.medium, a.queued.requestId, "mat_race-medium-0001"),
      home.handOver(r.other, a.queued.requestId, "mat_race-other-00001"),
    ]);
    expect([first.granted, second.granted]).toEqual([true, false]);
    expect((await home.handOver(r.medium, a.queued.requestId, "mat_race-medium-0001")).granted).toBe(true);
    expect((await home.handOver(r.other, a.queued.requestId, "mat_race-other-00001")).granted).toBe(false);
    // Handed back unused: waiting again in all its buckets.
    await home.peer(r.medium, [
      { kind: "giveBack", requestId: a.queued.requestId, pairId: "mat_race-medium-0001" },
    ]);
    expect((await a.socket.next("queued")).buckets).toEqual([r.easy, r.medium, r.other]);
    await eventually(() => waiting(r.other, alice), 1, "placed in the other bucket again");
    // Operators see the answers: one grant (the repeat is not counted) and two refusals.
    await eventually(async () => (await handOvers("granted")) - before.granted >= 1, true, "grants counted");
    await eventually(
      async () => (await handOvers("refused")) - before.refused >= 2,
      true,
      "refusals counted",
    );
  });

  it("widens to the neighbouring difficulty when the alarm fires, tells the user, and is paired there", async () => {
    const r = rooms();
    const alice = newUser("alice");
    const bob = newUser("bob");
    const a = await joinWith(r.easy, alice, "&widen=1");
    expect(a.queued.buckets).toEqual([r.easy]);
    await a.socket.quiet();
    expect(await advanceAndRunAlarm(r.easy, 20_000, vi)).toBe(true);
    expect((await a.socket.next("queued")).buckets).toEqual([r.easy, r.medium]);
    await eventually(() => waiting(r.medium, bob), 1, "alice waits in medium too");
    const b = await joinWith(r.medium, bob);
    expect(await a.socket.next("match_found")).toMatchObject({
      partnerId: bob,
      room: r.medium,
      difficulty: "medium",
    });
    await b.socket.next("match_found");
  });

  it("a survivor returns to all its buckets at its place after a decline, and is paired again", async () => {
    const r = rooms();
    const carol = newUser("carol");
    const { alice, a, b, matchId } = await pairedInOther(r);
    b.socket.send({ type: "decline", matchId });
    expect(await a.socket.next("match_cancelled")).toMatchObject({ reason: "partner_declined" });
    expect((await a.socket.next("queued")).buckets).toEqual([r.easy, r.other]);
    await eventually(() => waiting(r.other, carol), 1, "back in the other bucket");
    expect(await waiting(r.easy, carol)).toBe(1);
    const late = await api(alice, "POST", "/confirm", { match_id: matchId, confirmed: true });
    expect([late.status, errorAnswer.parse(late.json).error.code]).toEqual([409, "match_not_pending"]);
    const c = await joinWith(r.easy, carol);
    expect((await a.socket.next("match_found")).partnerId).toBe(carol);
    expect((await c.socket.next("match_found")).partnerId).toBe(alice);
    await eventually(() => waiting(r.other, carol), 0, "withdrawn from the other bucket once matched");
  });

  it("DELETE /request/{id} at home ends a request matched elsewhere; its partner is requeued there", async () => {
    const r = rooms();
    const { alice, bob, a, b, matchId } = await pairedInOther(r);
    const deleted = await api(alice, "DELETE", `/request/${a.queued.requestId}`);
    expect(deleted.status).toBe(200);
    expect(await b.socket.next("match_cancelled")).toMatchObject({ matchId, reason: "partner_left" });
    expect((await b.socket.next("queued")).buckets).toEqual([r.other]);
    expect(await a.socket.next("cancelled")).toMatchObject({ requestId: a.queued.requestId });
    expect(await a.socket.closed()).toBe(1000);
    const view = requestView.parse((await api(alice, "GET", `/request/${a.queued.requestId}`)).json);
    expect(view).toMatchObject({ status: "CANCELLED", outcome: "left", room: r.other });
    expect(await waiting(r.other, bob)).toBe(1);
  });

  it("survives eviction of the home and of the guest bucket while waiting and while confirming", async () => {
    const r = rooms();
    const alice = newUser("alice");
    const bob = newUser("bob");
    const a = await joinWith(r.easy, alice, `&also=${r.other}`);
    await eventually(() => waiting(r.other, bob), 1, "alice waits in the other bucket");
    await evictDurableObject(bucketStub(r.easy));
    await evictDurableObject(bucketStub(r.other));
    const b = await joinWith(r.other, bob);
    const fb = await b.socket.next("match_found");
    expect((await a.socket.next("match_found")).matchId).toBe(fb.matchId);
    await evictDurableObject(bucketStub(r.other));
    a.socket.send({ type: "confirm", matchId: fb.matchId });
    await b.socket.next("partner_confirmed");
    await evictDurableObject(bucketStub(r.easy));
    b.socket.send({ type: "confirm", matchId: fb.matchId });
    expect((await a.socket.next("match_ready")).matchId).toBe(fb.matchId);
    expect((await b.socket.next("match_ready")).matchId).toBe(fb.matchId);
  });

  it("a confirm window running out in the guest bucket ends the request at home", async () => {
    const r = rooms();
    const { alice, a, b, matchId } = await pairedInOther(r);
    b.socket.send({ type: "confirm", matchId });
    await a.socket.next("partner_confirmed");
    expect(await advanceAndRunAlarm(r.other, 21_000, vi)).toBe(true);
    expect(await a.socket.next("match_cancelled")).toMatchObject({ reason: "confirm_timeout" });
    expect(await a.socket.closed()).toBe(1000);
    expect((await api(alice, "GET", "/me/request")).status).toBe(404);
    const view = requestView.parse((await api(alice, "GET", `/request/${a.queued.requestId}`)).json);
    expect(view).toMatchObject({ status: "TIMED_OUT", outcome: "confirm_timeout" });
    // A late answer over HTTP is judged by the bucket that held the match, as in one bucket.
    const late = await api(alice, "POST", "/confirm", { match_id: matchId, confirmed: true });
    expect([late.status, errorAnswer.parse(late.json).error.code]).toEqual([410, "confirm_window_over"]);
    // Bob, who confirmed, waits on in his bucket.
    expect(await b.socket.next("match_cancelled")).toMatchObject({ reason: "partner_timeout" });
  });

  it("refuses a bad also or widen before the upgrade, creating nothing", async () => {
    const r = rooms();
    const alice = newUser("alice");
    for (const query of [
      "&also=nonsense",
      "&also=extreme.arrays",
      `&also=${r.medium},${r.hard},${r.other},medium.${r.u}`,
      "&widen=maybe",
    ]) {
      const res = await upgrade(r.easy, alice, query);
      expect(res.status, query).toBe(400);
      expect(errorAnswer.parse(await res.json()).error.code).toBe("invalid_parameter");
      // A plain GET (no upgrade header) hears the same 400, not a 426.
      const token = await tokenFor(alice);
      const plain = await SELF.fetch(`https://matcher.test/parties/bucket/${r.easy}?token=${token}${query}`);
      expect(plain.status, query).toBe(400);
    }
    const tooMany = await api(alice, "POST", "/request", {
      difficulty: "easy",
      topic: r.t,
      also: [1, 2, 3, 4].map((i) => ({ difficulty: "easy", topic: `${r.u}-${i}` })),
    });
    expect(tooMany.status).toBe(400);
    const badRoom = await api(alice, "POST", "/request", {
      difficulty: "easy",
      topic: r.t,
      also: [{ difficulty: "x", topic: r.u }],
    });
    expect(badRoom.status).toBe(400);
    const badWiden = await api(alice, "POST", "/request", { difficulty: "easy", topic: r.t, widen: "yes" });
    expect(badWiden.status).toBe(400);
    expect((await api(alice, "GET", "/me/request")).status).toBe(404);
    expect(await waiting(r.easy, alice)).toBe(0);
  });

  it("counts the 3 more rooms once the home and duplicates are dropped", async () => {
    const r = rooms();
    const also = [r.easy, r.medium, `Medium.${r.t}`, r.hard, r.other].join(",");
    const { socket, queued } = await joinWith(r.easy, newUser("alice"), `&also=${also}`);
    expect(queued.buckets).toEqual([r.easy, r.medium, r.hard, r.other]);
    socket.send({ type: "leave" });
    expect(await socket.closed()).toBe(1000);
  });

  it("refuses an also topic outside TOPICS, on the socket and over HTTP", async () => {
    const limited = { ...env, TOPICS: "Arrays, Dynamic Programming" };
    const token = await tokenFor(newUser("u"));
    const socket = await app.request(
      `/parties/bucket/easy.arrays?token=${token}&also=medium.graphs`,
      { headers: { Upgrade: "websocket" } },
      limited,
    );
    expect(socket.status).toBe(400);
    expect(await socket.json()).toMatchObject({ error: { code: "unknown_topic" } });
    const post = await app.request(
      "/api/v1/matching/request",
      {
        method: "POST",
        headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
        body: JSON.stringify({
          difficulty: "easy",
          topic: "arrays",
          also: [
            { difficulty: "hard", topic: "Dynamic Programming" },
            { difficulty: "easy", topic: "graphs" },
          ],
        }),
      },
      limited,
    );
    expect(post.status).toBe(400);
    expect(await post.json()).toMatchObject({ error: { code: "unknown_topic" } });
    const figures = await app.request(
      "/api/v1/matching/queues/easy/graphs",
      { headers: { authorization: `Bearer ${token}` } },
      limited,
    );
    expect(figures.status).toBe(400);
    expect(await figures.json()).toMatchObject({ error: { code: "unknown_topic" } });
  });
});

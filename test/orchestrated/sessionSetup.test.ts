import {
  abortAllDurableObjects,
  evictDurableObject,
  runDurableObjectAlarm,
  runInDurableObject,
} from "cloudflare:test";
import { afterEach, describe, expect, inject, it, vi } from "vitest";
import type { BucketActor } from "../../src/bucket/BucketActor.ts";
import { requestView } from "../../src/protocol/http.ts";
import { api } from "../worker/httpClient.ts";
import { bucketStub, join, matchedPair, openSocket, userIn } from "../worker/socketClient.ts";

afterEach(() => {
  vi.useRealTimers();
});

/** A room whose topic tells the `by-topic` stand-in services how to behave. */
const roomFor = (prefix: "ok" | "fail" | "slow") => `easy.${prefix}-${crypto.randomUUID().slice(0, 8)}`;

describe("session setup on confirm (QUESTION_SERVICE_URL and COLLAB_SERVICE_URL set)", () => {
  it("puts the question and collaboration session ids in match_ready", async () => {
    const room = roomFor("ok");
    const { a, b, matchId } = await matchedPair(room);
    a.send({ type: "confirm", matchId });
    await b.next("partner_confirmed");
    b.send({ type: "confirm", matchId });
    const topic = room.slice("easy.".length);
    const expected = {
      matchId,
      questionId: `q-easy-${topic}`,
      collaborationSessionId: `room-${userIn(room, "alice")}+${userIn(room, "bob")}-q-easy-${topic}`,
    };
    expect(await a.next("match_ready")).toMatchObject(expected);
    expect(await b.next("match_ready")).toMatchObject(expected);
  });

  it("when a service keeps failing, both get setup_failed and go back to the head of the queue", async () => {
    const room = roomFor("fail");
    const { a, b, matchId } = await matchedPair(room);
    const c = await join(room, "carol");
    a.send({ type: "confirm", matchId });
    await b.next("partner_confirmed");
    b.send({ type: "confirm", matchId });
    // Retries take a few hundred ms before the setup is given up.
    expect(await a.next("match_cancelled", 8000)).toEqual({
      type: "match_cancelled",
      matchId,
      reason: "setup_failed",
    });
    expect(await b.next("match_cancelled", 8000)).toMatchObject({ reason: "setup_failed" });
    // Back at their original places: ahead of carol, who joined later.
    expect((await a.next("queued")).position).toBe(1);
    const again = [await a.next("match_found"), await b.next("queued"), await b.next("match_found")];
    expect(again[0].partnerId).toBe(userIn(room, "bob"));
    await c.socket.quiet(50);
  });

  it("a user who drops while the session is set up gets match_ready on reconnect, and is queued nowhere meanwhile", async () => {
    const room = roomFor("slow");
    const topic = room.slice("easy.".length);
    const alice = userIn(room, "alice");
    const { a, b, matchId } = await matchedPair(room);
    a.send({ type: "confirm", matchId });
    await b.next("partner_confirmed");
    b.send({ type: "confirm", matchId });
    a.close();
    await vi.waitFor(
      () =>
        runInDurableObject(bucketStub(room), (bucket: BucketActor) => {
          if ([...bucket.getConnections(alice)].length > 0) throw new Error("alice still connected");
        }),
      { timeout: 3000, interval: 20 },
    );
    // Being set up: not queued again elsewhere.
    const elsewhere = await api(alice, "POST", "/request", { difficulty: "hard", topic });
    expect(elsewhere).toMatchObject({ status: 409, json: { error: { code: "already_queued" } } });
    const ready = await b.next("match_ready", 8000);
    await evictDurableObject(bucketStub(room));
    const back = await openSocket(room, "alice");
    expect(await back.next("match_ready")).toMatchObject({
      matchId,
      questionId: ready.questionId,
      collaborationSessionId: ready.collaborationSessionId,
    });
    expect(await back.closed()).toBe(1000);
  });

  it("keeps an alarm booked for the setup watchdog while a setup is under way", async () => {
    const room = roomFor("slow");
    const topic = room.slice("easy.".length);
    const [u1, u2] = [userIn(room, "u1"), userIn(room, "u2")];
    await api(u1, "POST", "/request", { difficulty: "easy", topic });
    const r2 = requestView.parse((await api(u2, "POST", "/request", { difficulty: "easy", topic })).json);
    const matchId = r2.match!.id;
    await api(u1, "POST", "/confirm", { match_id: matchId, confirmed: true });
    expect((await api(u2, "POST", "/confirm", { match_id: matchId, confirmed: true })).status).toBe(202);
    // Let the outbox go out, so the watchdog is the only thing left to wake the actor for.
    vi.useFakeTimers({ toFake: ["Date"] });
    vi.setSystemTime(Date.now() + 2_000);
    await runDurableObjectAlarm(bucketStub(room));
    vi.useRealTimers();
    const alarm = await runInDurableObject(bucketStub(room), (_actor, state) => state.storage.getAlarm());
    expect(alarm).not.toBeNull();
    expect(alarm!).toBeLessThanOrEqual(Date.now() + 31_000);
  });

  it("a setup lost to a restart is asked for again, with the same idempotency key", async () => {
    const room = roomFor("slow");
    const topic = room.slice("easy.".length);
    const [u1, u2] = [userIn(room, "u1"), userIn(room, "u2")];
    const r1 = requestView.parse((await api(u1, "POST", "/request", { difficulty: "easy", topic })).json);
    const r2 = requestView.parse((await api(u2, "POST", "/request", { difficulty: "easy", topic })).json);
    const matchId = r2.match!.id;
    expect((await api(u1, "POST", "/confirm", { match_id: matchId, confirmed: true })).status).toBe(202);
    const second = await api(u2, "POST", "/confirm", { match_id: matchId, confirmed: true });
    expect(second.json).toEqual({ detail: "Both confirmed; setting up your session" });
    // The question service takes a second: restart every actor while it is being asked, which
    // loses the answer (an eviction would wait for it). Wait until the request has reached it.
    await new Promise((r) => setTimeout(r, 300));
    await abortAllDurableObjects();
    const status = requestView.parse((await api(u1, "GET", `/request/${r1.id}`)).json);
    expect(status.status).toBe("MATCHED");
    // The new instance asked again on start; the watchdog alarm would too.
    vi.useFakeTimers({ toFake: ["Date"] });
    vi.setSystemTime(Date.now() + 31_000);
    await runDurableObjectAlarm(bucketStub(room));
    vi.useRealTimers();
    let final = status;
    for (let i = 0; i < 40 && final.status !== "CONFIRMED"; i++) {
      await new Promise((r) => setTimeout(r, 100));
      final = requestView.parse((await api(u1, "GET", `/request/${r1.id}`)).json);
    }
    expect(final).toMatchObject({ status: "CONFIRMED", match: { questionId: `q-easy-${topic}` } });
    const calls = (await (await fetch(`${inject("standInServices")["by-topic"]}/calls`)).json()) as {
      requests: Array<{ idempotencyKey: string | null }>;
    };
    const asked = calls.requests.filter((r) => r.idempotencyKey === `${matchId}:question`);
    expect(asked.length).toBeGreaterThanOrEqual(2);
  });
});

import { runDurableObjectAlarm, runInDurableObject, SELF } from "cloudflare:test";
import { afterEach, describe, expect, it, vi } from "vitest";
import { errorAnswer } from "../../src/protocol/http.ts";
import { api, newTopic, newUser } from "./httpClient.ts";
import { shardFor, socketAs } from "./registryClient.ts";
import { tokenFor } from "./socketClient.ts";
import { type ChannelSocket, channelUpgrade, openChannel, userStub } from "./userChannel.ts";

afterEach(() => {
  vi.useRealTimers();
});

/** Wait until the user's shard knows their channel is open (it is told right after the first tab connects). */
async function watched(userId: string, on = true): Promise<void> {
  const deadline = performance.now() + 3000;
  for (;;) {
    const is = await runInDurableObject(
      shardFor(userId),
      (_s, state) =>
        state.storage.sql.exec("SELECT 1 FROM watched WHERE user_id = ?", userId).toArray().length > 0,
    );
    if (is === on) return;
    if (performance.now() > deadline)
      throw new Error(`the shard never heard that ${userId}'s channel is ${on ? "open" : "closed"}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

async function channelOf(userId: string): Promise<ChannelSocket> {
  const tab = await openChannel(userId);
  await watched(userId);
  return tab;
}

describe("GET /parties/user/{userId}", () => {
  it("refuses another user's room with 403 before the upgrade, and a bad token with 401", async () => {
    const [alice, bob] = [newUser("alice"), newUser("bob")];
    const forged = await channelUpgrade(alice, bob);
    expect(forged.status).toBe(403);
    expect(forged.webSocket).toBeNull();
    expect(errorAnswer.parse(await forged.json()).error.code).toBe("forbidden");
    // Without the upgrade header too: the refusal comes first, the 426 only for a good call.
    const plain = await SELF.fetch(`https://matcher.test/parties/user/${bob}?token=${await tokenFor(alice)}`);
    expect(plain.status).toBe(403);
    const badToken = await channelUpgrade(alice, alice, "not-a-token");
    expect(badToken.status).toBe(401);
    // The same id in another tenant is another user: their token does not open this one's room
    // either, since the room is looked up in the caller's own tenant.
    const otherTenant = await tokenFor(alice, { claims: { tenant_id: "acme" } });
    expect((await channelUpgrade(alice, alice, otherTenant)).status).toBe(101);
  });
});

describe("a tab whose token expires", () => {
  it("is closed with 4001 by the alarm, while a tab with a fresh token stays", async () => {
    const alice = newUser("alice");
    const shortLived = await openChannel(alice, alice, await tokenFor(alice, { ttlSeconds: 60 }));
    const fresh = await openChannel(alice);
    vi.useFakeTimers({ toFake: ["Date"] });
    vi.setSystemTime(Date.now() + 61_000);
    expect(await runDurableObjectAlarm(userStub(alice))).toBe(true);
    vi.useRealTimers();
    expect(await shortLived.closed()).toBe(4001);
    fresh.ws.send(JSON.stringify({ type: "ping" }));
    await fresh.nextOf("pong");
    fresh.close();
  });
});

describe("request_update", () => {
  it("follows the user's queue request on their channel: queued, matched, confirmed", async () => {
    const [alice, bob] = [newUser("alice"), newUser("bob")];
    const tabs = [await channelOf(alice), await openChannel(alice)];
    const topic = newTopic();
    const room = `easy.${topic}`;
    const a = await socketAs(room, alice);
    const queued = await a.next("queued");
    for (const tab of tabs) {
      const update = await tab.nextOf("request_update");
      expect(update.request).toMatchObject({ id: queued.requestId, userId: alice, status: "PENDING", topic });
      // The view's fields are the frame's own too.
      expect(update).toMatchObject({ id: queued.requestId, status: "PENDING", position: 1 });
    }
    const b = await socketAs(room, bob);
    await b.next("queued");
    const found = await a.next("match_found");
    expect((await tabs[0]!.nextOf("request_update")).request).toMatchObject({
      status: "MATCHED",
      match: { id: found.matchId, partnerId: bob },
    });
    a.send({ type: "confirm", matchId: found.matchId });
    b.send({ type: "confirm", matchId: found.matchId });
    await a.next("match_ready");
    const seen = [];
    for (;;) {
      const u = await tabs[0]!.nextOf("request_update");
      seen.push(u.request.status);
      if (u.request.status === "CONFIRMED") break;
    }
    expect(seen.at(-1)).toBe("CONFIRMED");
    for (const tab of tabs) tab.close();
  });

  it("follows a request paired in another of its buckets: the match and the room that holds it", async () => {
    const [alice, bob] = [newUser("alice"), newUser("bob")];
    const tab = await channelOf(alice);
    const [home, other] = [`easy.${newTopic()}`, `easy.${newTopic()}`];
    const a = await socketAs(home, alice, `&also=${other}`);
    const queued = await a.next("queued");
    // Bob is paired with Alice's entry in his bucket as soon as it is placed there.
    const b = await socketAs(other, bob);
    const found = await a.next("match_found");
    let update = await tab.nextOf("request_update");
    while (update.request.status === "PENDING") update = await tab.nextOf("request_update");
    expect(update.request).toMatchObject({
      id: queued.requestId,
      status: "MATCHED",
      room: other,
      match: { id: found.matchId, partnerId: bob },
    });
    a.send({ type: "confirm", matchId: found.matchId });
    b.send({ type: "confirm", matchId: found.matchId });
    while (update.request.status !== "CONFIRMED") update = await tab.nextOf("request_update");
    expect(update.request.match).toMatchObject({ id: found.matchId, partnerId: bob, status: "confirmed" });
    tab.close();
  });

  it("a channel opened while the request waits gets its view at once, and an HTTP cancel shows as ended", async () => {
    const alice = newUser("alice");
    const created = await api(alice, "POST", "/request", { difficulty: "easy", topic: newTopic() });
    expect(created.status).toBe(201);
    const id = (created.json as { id: string }).id;
    const tab = await channelOf(alice);
    expect((await tab.nextOf("request_update")).request).toMatchObject({ id, status: "PENDING" });
    expect((await api(alice, "DELETE", `/request/${id}`)).status).toBe(200);
    expect((await tab.nextOf("request_update")).request).toMatchObject({ id, status: "CANCELLED" });
    tab.close();
    await watched(alice, false);
  });
});

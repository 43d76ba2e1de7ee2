import { evictDurableObject, runDurableObjectAlarm, runInDurableObject } from "cloudflare:test";
import { afterEach, describe, expect, it, vi } from "vitest";
import { requestView } from "../../src/protocol/http.ts";
import { api, newTopic, newUser } from "./httpClient.ts";
import { putClaimBack, shardFor, shards, socketAs } from "./registryClient.ts";
import { bucketStub, type TestSocket } from "./socketClient.ts";

afterEach(() => {
  vi.useRealTimers();
});

describe("one live request per user, kept by registry shards", () => {
  it("uses a fixed set of shard objects, not one object per user", async () => {
    const topic = newTopic();
    const users = Array.from({ length: 3 * shards }, (_, i) => newUser(`many${i}`));
    for (const u of users)
      expect((await api(u, "POST", "/request", { difficulty: "easy", topic })).status).toBe(201);
    // Every claim lives in one of the shards, and each user's in exactly one row.
    let rows = 0;
    const ids = new Set<string>();
    for (const u of users) {
      const stub = shardFor(u);
      ids.add(stub.id.toString());
      rows += await runInDurableObject(
        stub,
        (_s, state) =>
          state.storage.sql.exec<{ n: number }>("SELECT count(*) AS n FROM claims WHERE user_id = ?", u).one()
            .n,
      );
    }
    expect(rows).toBe(users.length);
    expect(ids.size).toBeLessThanOrEqual(shards);
  });

  it("still holds the claim after the holding bucket is evicted, and frees it when that request ends", async () => {
    const u = newUser("u");
    const topic = newTopic();
    const created = requestView.parse((await api(u, "POST", "/request", { difficulty: "easy", topic })).json);
    await evictDurableObject(bucketStub(`easy.${topic}`));
    expect((await api(u, "POST", "/request", { difficulty: "hard", topic })).status).toBe(409);
    expect((await api(u, "DELETE", `/request/${created.id}`)).status).toBe(200);
    expect((await api(u, "POST", "/request", { difficulty: "hard", topic })).status).toBe(201);
  });

  it("keeps the claim and finds the request after the shard itself is evicted", async () => {
    const u = newUser("u");
    const topic = newTopic();
    const created = requestView.parse((await api(u, "POST", "/request", { difficulty: "easy", topic })).json);
    await evictDurableObject(shardFor(u));
    expect((await api(u, "POST", "/request", { difficulty: "hard", topic })).status).toBe(409);
    expect((await api(u, "GET", "/me/request")).json).toMatchObject({ id: created.id });
    expect((await api(u, "GET", `/request/${created.id}`)).status).toBe(200);
  });

  it("a late release of an earlier request does not free the user's newer one", async () => {
    const u = newUser("u");
    const topic = newTopic();
    const room = `easy.${topic}`;
    const first = requestView.parse((await api(u, "POST", "/request", { difficulty: "easy", topic })).json);
    expect((await api(u, "DELETE", `/request/${first.id}`)).status).toBe(200);
    // As if the first request's release were still on its way: its claim is still there.
    await putClaimBack(u, room, first.id);
    const second = requestView.parse((await api(u, "POST", "/request", { difficulty: "easy", topic })).json);
    expect(second.id).not.toBe(first.id);
    // Now the late release arrives.
    await shardFor(u).sync(room, [], [{ userId: u, requestId: first.id }]);
    expect((await api(u, "POST", "/request", { difficulty: "hard", topic })).status).toBe(409);
    // The earlier request is still found by id, though its claim was taken over.
    expect(requestView.parse((await api(u, "GET", `/request/${first.id}`)).json).status).toBe("CANCELLED");
  });

  it("a claim whose release was lost is recovered from the bucket that held it", async () => {
    const u = newUser("u");
    const topic = newTopic();
    const created = requestView.parse((await api(u, "POST", "/request", { difficulty: "easy", topic })).json);
    expect((await api(u, "DELETE", `/request/${created.id}`)).status).toBe(200);
    await putClaimBack(u, `easy.${topic}`, created.id);
    expect((await api(u, "POST", "/request", { difficulty: "medium", topic })).status).toBe(201);
    // The bucket that held the stale claim still answers for its ended request.
    expect(requestView.parse((await api(u, "GET", `/request/${created.id}`)).json).status).toBe("CANCELLED");
  });

  it("two tabs joining two buckets at once: one is queued, the other is closed with 4409", async () => {
    for (let round = 0; round < 5; round++) {
      const u = newUser("tabs");
      const topic = newTopic();
      const [a, b] = await Promise.all([socketAs(`easy.${topic}`, u), socketAs(`hard.${topic}`, u)]);
      const outcome = async (s: TestSocket) => {
        await vi.waitUntil(() => s.frames.length > 0 || s.closeCode !== null, { timeout: 3000 });
        const first = s.frames[0];
        return first?.type === "queued" ? "queued" : `${first?.type}:${await s.closed()}`;
      };
      const seen = [await outcome(a), await outcome(b)].sort();
      expect(seen).toEqual(["error:4409", "queued"]);
      a.close();
      b.close();
    }
  });

  it("a join just after the old request's time is up (before its alarm) claims its new request", async () => {
    const u = newUser("late");
    const topic = newTopic();
    const room = `easy.${topic}`;
    const first = requestView.parse((await api(u, "POST", "/request", { difficulty: "easy", topic })).json);
    // The queue time runs out, but the bucket's alarm has not run yet.
    vi.useFakeTimers({ toFake: ["Date"] });
    vi.setSystemTime(Date.now() + 61_000);
    const second = await api(u, "POST", "/request", { difficulty: "easy", topic });
    expect(second.status).toBe(201);
    const created = requestView.parse(second.json);
    expect(created.id).not.toBe(first.id);
    // The new request is the user's one live request: found by id, and it holds them here.
    expect((await api(u, "GET", `/request/${created.id}`)).status).toBe(200);
    expect((await api(u, "GET", "/me/request")).json).toMatchObject({ id: created.id });
    expect((await api(u, "POST", "/request", { difficulty: "hard", topic })).status).toBe(409);
    await runDurableObjectAlarm(bucketStub(room));
    expect((await api(u, "POST", "/request", { difficulty: "hard", topic })).status).toBe(409);
  });

  it("counts new requests per user across buckets: a user hopping between buckets is limited too", async () => {
    const u = newUser("hopper");
    const statuses: number[] = [];
    for (let i = 0; i < 22; i++) {
      const topic = newTopic();
      const res = await api(u, "POST", "/request", { difficulty: "easy", topic });
      statuses.push(res.status);
      if (res.status === 429) {
        expect(res.headers.get("Retry-After")).toBe("60");
        break;
      }
      await api(u, "DELETE", `/request/${requestView.parse(res.json).id}`);
    }
    // Each bucket saw one join; the user's shard saw them all.
    expect(statuses.slice(0, 20).every((s) => s === 201)).toBe(true);
    expect(statuses[20]).toBe(429);
  });

  it("routes ended requests by id for hours, then the shard's sweep forgets them", async () => {
    const u = newUser("u");
    const topic = newTopic();
    const created = requestView.parse((await api(u, "POST", "/request", { difficulty: "easy", topic })).json);
    expect((await api(u, "DELETE", `/request/${created.id}`)).status).toBe(200);
    // Its release waits for the bucket's next claim to that shard; the claim still routes it.
    expect(requestView.parse((await api(u, "GET", `/request/${created.id}`)).json).status).toBe("CANCELLED");
    // A join elsewhere takes the stale claim over (checked with the bucket) and keeps the route.
    expect((await api(u, "POST", "/request", { difficulty: "hard", topic })).status).toBe(201);
    const shard = shardFor(u);
    expect(await shard.roomOfRequest(u, created.id)).toBe(`easy.${topic}`);
    vi.useFakeTimers({ toFake: ["Date"] });
    vi.setSystemTime(Date.now() + 2 * 3_600_000);
    expect(await runDurableObjectAlarm(shard)).toBe(true);
    expect(await shard.roomOfRequest(u, created.id)).toBe(`easy.${topic}`);
    vi.setSystemTime(Date.now() + 2 * 3_600_000);
    await runDurableObjectAlarm(shard);
    expect(await shard.roomOfRequest(u, created.id)).toBeNull();
  });
});

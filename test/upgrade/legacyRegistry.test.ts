import { env, evictDurableObject, runInDurableObject } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import { legacyRegistry } from "../../src/actors.ts";
import { requestView } from "../../src/protocol/http.ts";
import { api, newTopic, newUser } from "../worker/httpClient.ts";
import { shardFor } from "../worker/registryClient.ts";

/**
 * A deployment upgraded from per-user registry objects (LEGACY_REGISTRY_UNTIL ahead): claims
 * and routing notes written by the old version still count until they are taken over.
 */

/** The tables of the per-user registry as the versions before the shards wrote them. */
const LEGACY_SCHEMA = `
  CREATE TABLE IF NOT EXISTS claim (one INTEGER PRIMARY KEY CHECK (one = 1), room TEXT NOT NULL,
    request_id TEXT NOT NULL, at INTEGER NOT NULL);
  CREATE TABLE IF NOT EXISTS recent (request_id TEXT PRIMARY KEY, room TEXT NOT NULL, at INTEGER NOT NULL);
`;

/**
 * Make `userId`'s live request in `room` look as it did before the upgrade: its claim and its
 * routing note in the user's old object, and nothing about it in the shard.
 */
async function asBeforeTheUpgrade(userId: string, room: string, requestId: string) {
  await runInDurableObject(shardFor(userId), (_s, state) => {
    state.storage.sql.exec("DELETE FROM claims WHERE user_id = ?", userId);
    state.storage.sql.exec("DELETE FROM recent WHERE user_id = ?", userId);
  });
  await runInDurableObject(legacyRegistry(env, userId), (_r, state) => {
    state.storage.sql.exec(LEGACY_SCHEMA);
    state.storage.sql.exec("INSERT OR REPLACE INTO claim VALUES (1, ?, ?, ?)", room, requestId, Date.now());
    state.storage.sql.exec("INSERT OR REPLACE INTO recent VALUES (?, ?, ?)", requestId, room, Date.now());
  });
  // The upgraded code meets the old object fresh, as after a deploy.
  await evictDurableObject(legacyRegistry(env, userId));
}

describe("upgrading from per-user registry objects", () => {
  it("a live claim of the old version still holds, routes by id, and is freed when it ends", async () => {
    const u = newUser("old");
    const topic = newTopic();
    const created = requestView.parse((await api(u, "POST", "/request", { difficulty: "easy", topic })).json);
    await asBeforeTheUpgrade(u, `easy.${topic}`, created.id);

    expect((await api(u, "POST", "/request", { difficulty: "hard", topic })).status).toBe(409);
    expect((await api(u, "GET", "/me/request")).json).toMatchObject({ id: created.id });
    expect((await api(u, "GET", `/request/${created.id}`)).status).toBe(200);
    expect((await api(u, "DELETE", `/request/${created.id}`)).status).toBe(200);
    expect((await api(u, "POST", "/request", { difficulty: "hard", topic })).status).toBe(201);
  });

  it("an old claim whose request already ended does not lock the user out", async () => {
    const u = newUser("old");
    const topic = newTopic();
    const created = requestView.parse((await api(u, "POST", "/request", { difficulty: "easy", topic })).json);
    expect((await api(u, "DELETE", `/request/${created.id}`)).status).toBe(200);
    await asBeforeTheUpgrade(u, `easy.${topic}`, created.id);
    expect((await api(u, "POST", "/request", { difficulty: "hard", topic })).status).toBe(201);
    // The ended request is still found by id through the old object's note.
    expect(requestView.parse((await api(u, "GET", `/request/${created.id}`)).json).status).toBe("CANCELLED");
  });

  it("a user the old version never saw joins as usual", async () => {
    const u = newUser("new");
    expect((await api(u, "POST", "/request", { difficulty: "easy", topic: newTopic() })).status).toBe(201);
    const stored = await runInDurableObject(legacyRegistry(env, u), (_r, state) =>
      state.storage.sql.exec("SELECT name FROM sqlite_master WHERE type = 'table'").toArray(),
    );
    // Looking in the old object created nothing there.
    expect(stored).toEqual([]);
  });
});

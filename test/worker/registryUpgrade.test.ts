import { evictDurableObject, runDurableObjectAlarm, runInDurableObject } from "cloudflare:test";
import { afterEach, describe, expect, it, vi } from "vitest";
import { newUser } from "./httpClient.ts";
import { shardFor } from "./registryClient.ts";

afterEach(() => {
  vi.useRealTimers();
});

/** A shard's tables as the version before partners rode in the routing notes wrote them. */
const SHARD_V1_SCHEMA = `
  CREATE TABLE IF NOT EXISTS claims (user_id TEXT PRIMARY KEY, room TEXT NOT NULL,
    request_id TEXT NOT NULL, at INTEGER NOT NULL) WITHOUT ROWID;
  CREATE TABLE IF NOT EXISTS recent (user_id TEXT NOT NULL, request_id TEXT NOT NULL,
    room TEXT NOT NULL, at INTEGER NOT NULL, PRIMARY KEY (user_id, request_id)) WITHOUT ROWID;
  CREATE TABLE IF NOT EXISTS blocks (user_id TEXT NOT NULL, blocked_id TEXT NOT NULL,
    since INTEGER NOT NULL, PRIMARY KEY (user_id, blocked_id)) WITHOUT ROWID;
  CREATE TABLE IF NOT EXISTS partners (user_id TEXT NOT NULL, partner_id TEXT NOT NULL,
    at INTEGER NOT NULL, PRIMARY KEY (user_id, partner_id)) WITHOUT ROWID;
  CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value INTEGER NOT NULL);
  CREATE TABLE IF NOT EXISTS watched (user_id TEXT PRIMARY KEY) WITHOUT ROWID;
`;

const tablesOf = (shard: ReturnType<typeof shardFor>) =>
  runInDurableObject(shard, (_s, state) =>
    state.storage.sql
      .exec<{ name: string }>("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")
      .toArray()
      .map((t) => t.name)
      .filter((name) => !name.startsWith("_") && !name.startsWith("sqlite_")),
  );

describe("a registry shard written by the version before", () => {
  it("upgrades itself on wake: its partners still keep pairs apart, its notes still route", async () => {
    const u = newUser("old");
    const [met, metLater] = [newUser("met"), newUser("later")];
    const shard = shardFor(u);
    const now = Date.now();
    await runInDurableObject(shard, (_s, state) => {
      const sql = state.storage.sql;
      for (const t of sql
        .exec<{ name: string }>("SELECT name FROM sqlite_master WHERE type = 'table'")
        .toArray())
        if (!t.name.startsWith("_") && !t.name.startsWith("sqlite_")) sql.exec(`DROP TABLE "${t.name}"`);
      sql.exec(SHARD_V1_SCHEMA);
      sql.exec("INSERT INTO partners VALUES (?, ?, ?)", u, met, now - 1_000);
      sql.exec("INSERT INTO recent VALUES (?, 'req-old', 'easy.old', ?)", u, now - 1_000);
    });
    await evictDurableObject(shard);

    const [first] = await shard.sync("easy.new", [{ userId: u, requestId: "req-1" }], []);
    expect(first).toMatchObject({ ok: true, recent: { [met]: now - 1_000 } });
    expect(await shard.roomOfRequest(u, "req-old")).toBe("easy.old");

    // A match after the upgrade: its partner rides in the request's routing note.
    await shard.sync("easy.new", [], [{ userId: u, requestId: "req-1", recent: { [metLater]: now } }]);
    const [second] = await shard.sync("easy.new", [{ userId: u, requestId: "req-2" }], []);
    expect(second).toMatchObject({ ok: true, recent: { [met]: now - 1_000, [metLater]: now } });
    expect(await shard.roomOfRequest(u, "req-1")).toBe("easy.new");
    expect(await tablesOf(shard)).toContain("partners");

    // Once the cooldown and the notes' hours are over, the old table goes with its last row.
    vi.useFakeTimers({ toFake: ["Date"] });
    vi.setSystemTime(now + 4 * 3_600_000);
    expect(await runDurableObjectAlarm(shard)).toBe(true);
    expect(await tablesOf(shard)).toEqual(["blocks", "claims", "meta", "recent", "watched"]);
    expect(await shard.roomOfRequest(u, "req-1")).toBeNull();
  });
});

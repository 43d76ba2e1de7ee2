import { readFileSync } from "node:fs";
import { sql } from "drizzle-orm";
import { afterEach, describe, expect, it } from "vitest";
import { type RunningDatabase, startDatabase } from "../../scripts/database.ts";
import { migrateDatabase, useNodeWebSocket } from "../../scripts/migrate.ts";
import { withDatabase } from "../../src/db/connect.ts";
import { PROJECT_ROOT } from "../support/localProcesses.ts";

// Booting PGlite runs initdb in WebAssembly: a few seconds each on a small machine.
const PGLITE_TEST_TIMEOUT_MS = 30_000;

/** Every migration drizzle-kit has generated, oldest first. */
function journalTags(): string[] {
  const journal = JSON.parse(readFileSync(`${PROJECT_ROOT}/migrations/meta/_journal.json`, "utf8")) as {
    entries: { tag: string }[];
  };
  return journal.entries.map((entry) => entry.tag);
}

async function publicTables(database: RunningDatabase): Promise<string[]> {
  useNodeWebSocket();
  return withDatabase(database.databaseUrl, database.wsProxy, async (db) => {
    const result = await db.execute<{ table_name: string }>(
      sql`select table_name from information_schema.tables where table_schema = 'public' order by table_name`,
    );
    return result.rows.map((row) => row.table_name);
  });
}

async function appliedMigrationCount(database: RunningDatabase): Promise<number> {
  return withDatabase(database.databaseUrl, database.wsProxy, async (db) => {
    const result = await db.execute<{ count: string }>(
      sql`select count(*)::text as count from drizzle.__drizzle_migrations`,
    );
    return Number(result.rows[0]?.count);
  });
}

describe("migrateDatabase", () => {
  let database: RunningDatabase | undefined;
  afterEach(async () => {
    await database?.stop();
    database = undefined;
  });

  it(
    "creates the schema on an empty database, then has nothing left to do",
    async () => {
      database = await startDatabase({ memory: true });
      expect(await publicTables(database)).toEqual([]);

      const first = await migrateDatabase(database.databaseUrl, database.wsProxy);
      expect(first.applied).toEqual(journalTags());
      expect(await publicTables(database)).toEqual(expect.arrayContaining(["match_requests", "matches"]));

      const second = await migrateDatabase(database.databaseUrl, database.wsProxy);
      expect(second.applied).toEqual([]);
      expect(await appliedMigrationCount(database)).toBe(first.total);
    },
    PGLITE_TEST_TIMEOUT_MS,
  );
});

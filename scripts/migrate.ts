import { readFile } from "node:fs/promises";
import { fileURLToPath } from "node:url";
import { neonConfig, Pool } from "@neondatabase/serverless";
import { sql } from "drizzle-orm";
import { drizzle } from "drizzle-orm/neon-serverless";
import { migrate } from "drizzle-orm/neon-serverless/migrator";
import { WebSocket } from "ws";
import { configureNeonTransport } from "../src/db/connect.ts";
import { classifyDatabaseUrl, DEFAULT_PGLITE_DIR, startDatabase } from "./database.ts";

/**
 * Applies migrations/ through the Neon serverless driver: the same driver and transport the
 * Worker uses, so PGlite, a local PostgreSQL and Neon are all migrated the same way.
 */

export const MIGRATIONS_DIR = fileURLToPath(new URL("../migrations", import.meta.url));

export type MigrationResult = {
  /** Tags (e.g. "0000_init") applied by this run, oldest first; empty when already up to date. */
  applied: string[];
  /** Number of migrations in migrations/. */
  total: number;
};

type JournalEntry = { tag: string; when: number };

async function readJournal(): Promise<JournalEntry[]> {
  const journal: unknown = JSON.parse(await readFile(`${MIGRATIONS_DIR}/meta/_journal.json`, "utf8"));
  if (
    typeof journal !== "object" ||
    journal === null ||
    !("entries" in journal) ||
    !Array.isArray(journal.entries)
  ) {
    throw new Error("migrations/meta/_journal.json has no entries");
  }
  return journal.entries.map((entry: { tag: string; when: number }) => ({
    tag: entry.tag,
    when: entry.when,
  }));
}

/**
 * Node has no WebSocket in the Workers sense for the driver to pick up reliably: the global one
 * (undici) only exists from Node 22 and differs in edge cases, so use `ws`, which the bridge also
 * uses, and behave the same on every Node the project may run under.
 */
export function useNodeWebSocket(): void {
  neonConfig.webSocketConstructor = WebSocket;
}

export async function migrateDatabase(
  databaseUrl: string,
  wsProxy: string | undefined,
): Promise<MigrationResult> {
  useNodeWebSocket();
  configureNeonTransport(databaseUrl, wsProxy);
  const journal = await readJournal();
  const pool = new Pool({ connectionString: databaseUrl, max: 1, connectionTimeoutMillis: 10_000 });
  pool.on("error", () => {});
  try {
    const db = drizzle({ client: pool });
    const newest = async (): Promise<number> => {
      // The migrator records each applied migration's journal `when` as created_at.
      const exists = await db.execute<{ present: boolean }>(
        sql`select to_regclass('drizzle.__drizzle_migrations') is not null as present`,
      );
      if (!exists.rows[0]?.present) return 0;
      const last = await db.execute<{ newest: string | null }>(
        sql`select max(created_at)::text as newest from drizzle.__drizzle_migrations`,
      );
      return Number(last.rows[0]?.newest ?? 0);
    };
    const before = await newest();
    await migrate(db, { migrationsFolder: MIGRATIONS_DIR });
    const after = await newest();
    return {
      applied: journal.filter((m) => m.when > before && m.when <= after).map((m) => m.tag),
      total: journal.length,
    };
  } finally {
    await pool.end().catch(() => {});
  }
}

function redact(databaseUrl: string): string {
  const url = new URL(databaseUrl);
  if (url.password) url.password = "***";
  return url.toString();
}

async function main(): Promise<number> {
  const databaseUrl = process.env.DATABASE_URL?.trim() || undefined;
  const kind = classifyDatabaseUrl(databaseUrl);
  const dataDir = process.env.LOCAL_DATA_DIR ? `${process.env.LOCAL_DATA_DIR}/pglite` : DEFAULT_PGLITE_DIR;
  console.log(
    kind === "pglite"
      ? `▸ starting embedded PostgreSQL (PGlite) at ${dataDir}`
      : `▸ using ${kind} at ${redact(databaseUrl ?? "")}`,
  );
  const database = await startDatabase({ databaseUrl, dataDir });
  try {
    console.log("▸ applying migrations");
    const { applied, total } = await migrateDatabase(database.databaseUrl, database.wsProxy);
    console.log(
      applied.length === 0
        ? `✓ already up to date (${total} migration${total === 1 ? "" : "s"})`
        : `✓ applied ${applied.join(", ")}`,
    );
    return 0;
  } finally {
    await database.stop();
  }
}

if (import.meta.main) {
  main().then(
    (code) => process.exit(code),
    (error: unknown) => {
      console.error(`✗ migration failed: ${error instanceof Error ? error.message : String(error)}`);
      process.exit(1);
    },
  );
}

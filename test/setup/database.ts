import type { TestProject } from "vitest/node";
import { startDatabase } from "../../scripts/database.ts";
import { migrateDatabase } from "../../scripts/migrate.ts";

/**
 * One database for the Workers test run: the real PostgreSQL named by DATABASE_URL when set,
 * else an in-memory PGlite. Either way the Worker reaches it through the Neon driver and our
 * bridge, as in `npm start`.
 */
export default async function setup(project: TestProject) {
  const db = await startDatabase({ databaseUrl: process.env.DATABASE_URL || undefined, memory: true });
  await migrateDatabase(db.databaseUrl, db.wsProxy);
  project.provide("databaseUrl", db.databaseUrl);
  project.provide("wsProxy", db.wsProxy ?? "");
  return async () => {
    await db.stop();
  };
}

declare module "vitest" {
  export interface ProvidedContext {
    databaseUrl: string;
    wsProxy: string;
  }
}

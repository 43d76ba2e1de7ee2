import type { TestProject } from "vitest/node";
import { startDatabase } from "../../scripts/database.ts";
import { migrateDatabase } from "../../scripts/migrate.ts";
import { startSwitchableLink } from "./switchableLink.ts";

/**
 * One database for the Workers test run: the real PostgreSQL named by DATABASE_URL when set,
 * else an in-memory PGlite. The Worker reaches it through the Neon driver and our bridge, as in
 * `npm start`, with a switchable link in front of the bridge so tests can take the database away.
 */
export default async function setup(project: TestProject) {
  const db = await startDatabase({ databaseUrl: process.env.DATABASE_URL || undefined, memory: true });
  await migrateDatabase(db.databaseUrl, db.wsProxy);
  const [bridgeHost, bridgePort] = (db.wsProxy ?? "").split(":");
  const link = await startSwitchableLink({ host: bridgeHost!, port: Number(bridgePort) });
  project.provide("databaseUrl", db.databaseUrl);
  project.provide("wsProxy", `127.0.0.1:${link.port}`);
  project.provide("databaseSwitchUrl", link.controlUrl);
  return async () => {
    await link.close();
    await db.stop();
  };
}

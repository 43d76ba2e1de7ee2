import { sql } from "drizzle-orm";
import { Hono } from "hono";
import type { Config } from "../config.ts";
import { withDatabase } from "../db/connect.ts";
import type { AppEnv } from "./context.ts";

const ROUND_TRIP_TIMEOUT_MS = 4_000;

/** Liveness with a real database round trip through the Neon driver, as production makes it. */
export const health = new Hono<AppEnv>().get("/", async (c) => {
  const config = c.get("config");
  const version = config.VERSION;
  if (!config.DATABASE_URL)
    return c.json({ status: "degraded", db: "down", version, detail: "DATABASE_URL is not set" }, 503);
  if (await databaseUp(config)) return c.json({ status: "ok", db: "up", version });
  return c.json({ status: "degraded", db: "down", version }, 503);
});

/** One `select 1` through the Neon driver, within a few seconds. */
export async function databaseUp(config: Config): Promise<boolean> {
  if (!config.DATABASE_URL) return false;
  try {
    await withDatabase(config.DATABASE_URL, config.NEON_WS_PROXY, (db) => db.execute(sql`select 1`), {
      timeoutMs: ROUND_TRIP_TIMEOUT_MS,
    });
    return true;
  } catch {
    return false;
  }
}

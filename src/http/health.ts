import { sql } from "drizzle-orm";
import { Hono } from "hono";
import { withDatabase } from "../db/connect.ts";
import type { AppEnv } from "./context.ts";

const ROUND_TRIP_TIMEOUT_MS = 4_000;

/** Liveness with a real database round trip through the Neon driver, as production makes it. */
export const health = new Hono<AppEnv>().get("/", async (c) => {
  const config = c.get("config");
  const version = config.VERSION;
  const url = config.DATABASE_URL;
  if (!url)
    return c.json({ status: "degraded", db: "down", version, detail: "DATABASE_URL is not set" }, 503);
  try {
    await withDatabase(url, config.NEON_WS_PROXY, (db) => db.execute(sql`select 1`), {
      timeoutMs: ROUND_TRIP_TIMEOUT_MS,
    });
    return c.json({ status: "ok", db: "up", version });
  } catch {
    return c.json({ status: "degraded", db: "down", version }, 503);
  }
});

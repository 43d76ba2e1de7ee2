import { env, SELF } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import { app } from "../../src/http/app.ts";

describe("GET /api/v1/matching/health", () => {
  it("answers ok after a real round trip to the database", async () => {
    const res = await SELF.fetch("https://matcher.test/api/v1/matching/health");
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ status: "ok", db: "up", version: "test" });
  });

  it("answers 503 with db down when the database is unreachable", async () => {
    // Port 9 (discard) on loopback: nothing listens, so the bridge cannot connect.
    const unreachable = { ...env, DATABASE_URL: "postgres://postgres@127.0.0.1:9/none" };
    const res = await app.request("/api/v1/matching/health", {}, unreachable);
    expect(res.status).toBe(503);
    expect(await res.json()).toMatchObject({ status: "degraded", db: "down" });
  });
});

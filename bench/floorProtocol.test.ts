import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { type Stack, startStack } from "./stack.ts";
import { SimUser } from "./users.ts";

/**
 * The floor is only a fair comparison if the bench's users get through it exactly as through
 * the service: queued, match_found, confirm, match_ready, close. One wrangler start, so one test.
 */
describe("the runtime floor (bench/floor/)", () => {
  const logDir = mkdtempSync(join(tmpdir(), "edge-matcher-floor-"));
  let stack: Stack | undefined;

  afterAll(async () => {
    await stack?.stop();
    rmSync(logDir, { recursive: true, force: true });
  });

  it("speaks the part of the protocol the bench's users need, with the per-user claim on", async () => {
    stack = await startStack({
      secret: "unused",
      logPath: join(logDir, "server.log"),
      env: {},
      floor: "claim",
    });
    const wsBase = stack.base.replace(/^http/, "ws");
    const a = new SimUser("a", "easy.floor", "token-a");
    const b = new SimUser("b", "easy.floor", "token-b");
    const first = a.start(wsBase, "confirm");
    // b joins once a is queued, so the order is known.
    for (let waited = 0; Number.isNaN(a.tQueued) && waited < 10_000; waited += 20) {
      await new Promise((done) => setTimeout(done, 20));
    }
    await Promise.all([first, b.start(wsBase, "confirm")]);
    for (const u of [a, b]) {
      expect(u.error).toBeUndefined();
      expect(u.ready).toBe(true);
      expect(u.closeCode).toBe(1000);
    }
    expect([a.queuedPosition, b.queuedPosition]).toEqual([1, 2]);
    expect(a.matchId).toBe(b.matchId);
  }, 120_000);
});

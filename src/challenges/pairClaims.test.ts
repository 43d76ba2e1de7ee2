import assert from "node:assert/strict";
import { test } from "node:test";
import { refusedClaim } from "./pairClaims.ts";

test("a refused claim answers as the registry refused it, naming whose it was", () => {
  const live = refusedClaim({ ok: false, reason: "live_elsewhere", room: "easy.arrays" }, "alice has");
  assert.deepEqual([live.status, live.code], [409, "already_queued"]);
  assert.match(live.message, /^alice has a live request/);
  const rate = refusedClaim({ ok: false, reason: "rate_limited" }, "You have");
  assert.deepEqual([rate.status, rate.retryAfterSeconds], [429, 60]);
  const paused = refusedClaim({ ok: false, reason: "maintenance" }, "You have");
  assert.deepEqual([paused.status, paused.code, paused.retryAfterSeconds], [503, "maintenance", 300]);
  const down = refusedClaim({ ok: false, reason: "unavailable" }, "You have");
  assert.deepEqual([down.status, down.code], [503, "unavailable"]);
});

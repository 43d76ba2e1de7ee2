import assert from "node:assert/strict";
import { test } from "node:test";
import { claimNeeds } from "./claimRule.ts";

test("a claim is granted when nothing is held, or a stale claim of the same bucket is", () => {
  assert.equal(claimNeeds(null, "easy.arrays"), "grant");
  assert.equal(claimNeeds({ room: "easy.arrays", requestId: "req_old" }, "easy.arrays"), "grant");
});

test("a claim held by another bucket is checked with that bucket first", () => {
  assert.equal(claimNeeds({ room: "hard.graphs", requestId: "req_1" }, "easy.arrays"), "verify");
});

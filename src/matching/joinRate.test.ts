import assert from "node:assert/strict";
import { test } from "node:test";
import { JoinRate } from "./joinRate.ts";

const T = 1_735_732_800_000;

test("allows the limit per window, refuses past it, and allows again in the next window", () => {
  const rate = new JoinRate(3, 60);
  assert.deepEqual(
    [0, 1, 2, 3, 4].map((i) => rate.allow("alice", T + i * 1000)),
    [true, true, true, false, false],
  );
  // Another key has its own count.
  assert.equal(rate.allow("bob", T + 5000), true);
  assert.equal(rate.allow("alice", T + 59_999), false);
  assert.equal(rate.allow("alice", T + 60_000), true);
});

test("forgets keys whose window is over, so memory stays bounded", () => {
  const rate = new JoinRate(20, 60);
  for (let i = 0; i < 1000; i++) rate.allow(`user-${i}`, T);
  assert.equal(rate.size, 1000);
  rate.allow("late", T + 61_000);
  assert.equal(rate.size, 1);
});

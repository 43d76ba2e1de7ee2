import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { shardName, shardOf } from "./shardOf.ts";

describe("shardOf", () => {
  test("is the FNV-1a hash of the id's UTF-8 bytes: fixed values, never to change after deploy", () => {
    // Reference values of 32-bit FNV-1a; a change here would move live claims between shards.
    assert.equal(shardOf("", 2 ** 31), 0x811c9dc5 % 2 ** 31);
    assert.equal(shardOf("a", 2 ** 31), 0xe40c292c % 2 ** 31);
    assert.equal(shardOf("foobar", 2 ** 31), 0xbf9cf968 % 2 ** 31);
    assert.equal(shardOf("é", 1_000_003), 0x1e9de8c1 % 1_000_003);
  });

  test("stays within range and spreads users evenly over the shards", () => {
    const counts = new Array<number>(32).fill(0);
    for (let i = 0; i < 32_000; i++) {
      const n = shardOf(`user-${i}@example.com`, 32);
      assert.ok(n >= 0 && n < 32);
      counts[n]!++;
    }
    // 1,000 each on average; a fair hash stays well within +-15 %.
    assert.ok(Math.min(...counts) > 850, `fewest ${Math.min(...counts)}`);
    assert.ok(Math.max(...counts) < 1150, `most ${Math.max(...counts)}`);
  });

  test("one shard takes everyone", () => {
    assert.equal(shardOf("anyone", 1), 0);
    assert.equal(shardName(7), "registry-shard-7");
  });
});

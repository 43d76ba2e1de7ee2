import { fnv1a } from "../fnv1a.ts";

/**
 * Which registry shard keeps a user's claim: FNV-1a (32-bit) over the id's UTF-8 bytes, modulo
 * the shard count. Stable across isolates, runtimes and deploys (no seed), so every router and
 * bucket finds the same shard for a user; it is spread evenly enough that no shard gets much
 * more than its share of users.
 */
export function shardOf(userId: string, shards: number): number {
  return fnv1a(userId) % shards;
}

/** The shard object's name; the prefix keeps shard names apart from any other object's. */
export function shardName(index: number): string {
  return `registry-shard-${index}`;
}

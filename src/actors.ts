import type { Env } from "./env.ts";
import { shardName, shardOf } from "./registry/shardOf.ts";

/** Stubs by name, in one place: a bucket by canonical room name, a registry shard by user id. */
export function bucketActor(env: Env, room: string) {
  return env.Bucket.get(env.Bucket.idFromName(room));
}

/** The shard keeping `userId`'s one live request (`shards` = REGISTRY_SHARDS). */
export function registryShard(env: Env, userId: string, shards: number) {
  return registryShardAt(env, shardOf(userId, shards));
}

export function registryShardAt(env: Env, index: number) {
  return env.Registry.get(env.Registry.idFromName(shardName(index)));
}

/** The per-user registry of earlier versions, read only while upgrading (LEGACY_REGISTRY_UNTIL). */
export function legacyRegistry(env: Env, userId: string) {
  return env.LegacyRegistry.get(env.LegacyRegistry.idFromName(userId));
}

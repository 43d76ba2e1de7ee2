import type { Env } from "./env.ts";
import { shardName, shardOf } from "./registry/shardOf.ts";
import { inTenant, parseUserActorName, userActorName } from "./tenancy.ts";

/**
 * Stubs by name, in one place: a bucket by its actor name (`bucketActorName`: tenant and
 * canonical room), a registry shard by tenant and user id.
 */
export function bucketActor(env: Env, room: string) {
  return env.Bucket.get(env.Bucket.idFromName(room));
}

/** The tenant's shard keeping `userId`'s one live request (`shards` = REGISTRY_SHARDS). */
export function registryShard(env: Env, tenant: string, userId: string, shards: number) {
  return registryShardAt(env, tenant, shardOf(userId, shards));
}

export function registryShardAt(env: Env, tenant: string, index: number) {
  return env.Registry.get(env.Registry.idFromName(inTenant(tenant, shardName(index))));
}

/** The per-user registry of earlier versions, read only while upgrading (LEGACY_REGISTRY_UNTIL). */
export function legacyRegistry(env: Env, userId: string) {
  return env.LegacyRegistry.get(env.LegacyRegistry.idFromName(userId));
}

/** The one directory of live figures (every tenant's). */
export function directory(env: Env) {
  return env.Directory.get(env.Directory.idFromName("directory"));
}

/** The user's own object: their channel, the challenges they received, those they sent. */
export function userActor(env: Env, tenant: string, userId: string) {
  return env.User.get(env.User.idFromName(userActorName(tenant, userId)));
}

/**
 * The object a registry claim names as its holder: a bucket (a request), or a user's own object
 * (the match of a challenge it owns). Both answer `holdsLiveRequest`.
 */
export function claimHolder(env: Env, holder: string) {
  return parseUserActorName(holder)
    ? env.User.get(env.User.idFromName(holder))
    : env.Bucket.get(env.Bucket.idFromName(holder));
}

/** Whether a claim's holder is a bucket (rather than a challenge's owner). */
export function holdsAsBucket(holder: string): boolean {
  return parseUserActorName(holder) === undefined;
}

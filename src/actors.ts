import type { Env } from "./env.ts";

/** Stubs by name, in one place: a bucket by canonical room name, a registry by user id. */
export function bucketActor(env: Env, room: string) {
  return env.Bucket.get(env.Bucket.idFromName(room));
}

export function userRegistry(env: Env, userId: string) {
  return env.Registry.get(env.Registry.idFromName(userId));
}

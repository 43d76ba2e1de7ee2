import type { Env } from "../env.ts";

/** The limiter's window (wrangler.toml `[[ratelimits]]` period), for `Retry-After`. */
export const JOIN_WINDOW_SECONDS = 60;

/**
 * Count one join for the user. The Workers Rate Limiting binding is per-location and eventually
 * consistent: right for stopping a runaway client, not for exact quotas.
 */
export async function allowJoin(env: Env, userId: string): Promise<boolean> {
  const { success } = await env.JOIN_LIMITER.limit({ key: userId });
  return success;
}

import { registryShard } from "../actors.ts";
import type { Config } from "../config.ts";
import type { Env } from "../env.ts";

export const MAINTENANCE_MESSAGE =
  "Matching is paused for maintenance; requests and matches already under way finish normally. Try again later.";

/**
 * In maintenance mode only users who already have a live request in this room get through
 * (to resume, confirm or leave it); new requests are turned away. Costs nothing otherwise.
 */
export async function blockedByMaintenance(env: Env, config: Config, userId: string, room: string) {
  if (!config.MAINTENANCE) return false;
  return (await registryShard(env, userId, config.REGISTRY_SHARDS).liveRoom(userId)) !== room;
}

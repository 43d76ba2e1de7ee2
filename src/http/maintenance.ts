import { userRegistry } from "../actors.ts";
import type { Env } from "../env.ts";

export const MAINTENANCE_MESSAGE =
  "Matching is paused for maintenance; requests and matches already under way finish normally. Try again later.";

/**
 * In maintenance mode only users who already have a live request in this room get through
 * (to resume, confirm or leave it); new requests are turned away. Costs nothing otherwise.
 */
export async function blockedByMaintenance(env: Env, maintenance: boolean, userId: string, room: string) {
  if (!maintenance) return false;
  return (await userRegistry(env, userId).liveRoom(userId)) !== room;
}

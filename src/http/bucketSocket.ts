import { Hono } from "hono";
import { parseRoomName } from "../protocol/values.ts";
import { ApiError } from "./apiError.ts";
import { authenticateWithQueryToken } from "./authenticate.ts";
import { checkJoin, joinBucket, requireUpgrade } from "./bucketJoin.ts";
import type { AppEnv } from "./context.ts";

/**
 * `GET /parties/bucket/{room}`: the WebSocket path `partysocket` builds with `party: "bucket"`.
 * The room is canonicalised here, so `Easy.Arrays` and `easy.arrays` reach one actor.
 */
export const bucketSocket = new Hono<AppEnv>().get("/:room", authenticateWithQueryToken, async (c) => {
  const bucket = parseRoomName(c.req.param("room"));
  if (!bucket) {
    throw new ApiError(400, "invalid_room", "Rooms are `{difficulty}.{topic}`, e.g. `easy.arrays`.");
  }
  const join = checkJoin(c, bucket);
  requireUpgrade(c);
  return joinBucket(c, join);
});

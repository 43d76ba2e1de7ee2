import { Hono } from "hono";
import { parseRoomName } from "../protocol/values.ts";
import { ApiError } from "./apiError.ts";
import { authenticate } from "./authenticate.ts";
import { joinBucket } from "./bucketJoin.ts";
import type { AppEnv } from "./context.ts";

/**
 * `GET /parties/bucket/{room}`: the WebSocket path `partysocket` builds with `party: "bucket"`.
 * The room is canonicalised here, so `Easy.Arrays` and `easy.arrays` reach one actor.
 */
export const bucketSocket = new Hono<AppEnv>().get("/:room", authenticate, async (c) => {
  if (c.req.header("upgrade")?.toLowerCase() !== "websocket") {
    throw new ApiError(426, "upgrade_required", "This path only accepts WebSocket upgrades.", {
      headers: { Upgrade: "websocket" },
    });
  }
  const bucket = parseRoomName(c.req.param("room"));
  if (!bucket) {
    throw new ApiError(400, "invalid_room", "Rooms are `{difficulty}.{topic}`, e.g. `easy.arrays`.");
  }
  return joinBucket(c, bucket);
});

import { Hono } from "hono";
import { USER_HEADER } from "../bucket/forwarding.ts";
import { parseRoomName, roomName } from "../protocol/values.ts";
import { ApiError } from "./apiError.ts";
import { authenticate } from "./authenticate.ts";
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
  const topics = c.get("config").TOPICS;
  if (topics.length > 0 && !topics.map((t) => t.toLowerCase()).includes(bucket.topic)) {
    throw new ApiError(400, "unknown_topic", `Topic must be one of: ${topics.join(", ")}.`);
  }
  const name = roomName(bucket);
  // The token stays here: the actor gets the verified user id, and the URL it keeps with the
  // socket carries no credentials.
  const url = new URL(c.req.url);
  url.searchParams.delete("token");
  url.pathname = `/parties/bucket/${name}`;
  const forwarded = new Request(url, c.req.raw);
  forwarded.headers.set(USER_HEADER, c.get("identity").userId);
  forwarded.headers.delete("authorization");
  return c.env.Bucket.get(c.env.Bucket.idFromName(name)).fetch(forwarded);
});

import { Hono } from "hono";
import { bucketActor } from "../actors.ts";
import {
  ALSO_HEADER,
  RATING_HEADER,
  ROLE_HEADER,
  TOKEN_EXP_HEADER,
  USER_HEADER,
  WIDEN_HEADER,
} from "../bucket/forwarding.ts";
import { alsoRooms, parseAlsoParam, parseWidenParam } from "../protocol/flexible.ts";
import { parseRoomName, roleSchema, roomName } from "../protocol/values.ts";
import { bucketActorName } from "../tenancy.ts";
import { ApiError } from "./apiError.ts";
import { authenticate } from "./authenticate.ts";
import type { AppEnv } from "./context.ts";
import { checkTopicAllowed } from "./matchRequests.ts";

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
  checkTopicAllowed(c.get("config").TOPICS, bucket.topic);
  const role = roleSchema.safeParse(c.req.query("role") ?? "either");
  if (!role.success) {
    throw new ApiError(400, "invalid_parameter", "`role` must be interviewer, interviewee or either.");
  }
  const alsoParam = parseAlsoParam(c.req.query("also"));
  if (!alsoParam.ok) throw new ApiError(400, "invalid_parameter", alsoParam.message);
  const also = alsoRooms(bucket, alsoParam.buckets, c.get("config").TOPICS);
  if (!also.ok) throw new ApiError(400, also.code, also.message);
  const widen = parseWidenParam(c.req.query("widen"));
  if (widen === undefined)
    throw new ApiError(400, "invalid_parameter", "`widen` must be 1, true, 0 or false.");
  const identity = c.get("identity");
  // Maintenance is the bucket's to refuse (its user's shard says so when claiming a new
  // request), so a user with a live request still resumes it.
  const name = bucketActorName(identity.tenant, bucket);
  // The token stays here: the actor gets the verified user id, and the URL it keeps with the
  // socket carries no credentials.
  const url = new URL(c.req.url);
  url.searchParams.delete("token");
  url.pathname = `/parties/bucket/${roomName(bucket)}`;
  const forwarded = new Request(url, c.req.raw);
  forwarded.headers.set(USER_HEADER, identity.userId);
  forwarded.headers.set(TOKEN_EXP_HEADER, String(identity.expiresAt));
  forwarded.headers.set(ROLE_HEADER, role.data);
  forwarded.headers.set(ALSO_HEADER, also.rooms.join(","));
  forwarded.headers.set(WIDEN_HEADER, widen ? "1" : "0");
  if (identity.rating === null) forwarded.headers.delete(RATING_HEADER);
  else forwarded.headers.set(RATING_HEADER, String(identity.rating));
  forwarded.headers.delete("authorization");
  return bucketActor(c.env, name).fetch(forwarded);
});

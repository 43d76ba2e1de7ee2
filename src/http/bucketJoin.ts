import type { Context } from "hono";
import { bucketActor } from "../actors.ts";
import { RATING_HEADER, ROLE_HEADER, TOKEN_EXP_HEADER, USER_HEADER } from "../bucket/forwarding.ts";
import { type Bucket, roleSchema, roomName } from "../protocol/values.ts";
import { bucketActorName } from "../tenancy.ts";
import { ApiError } from "./apiError.ts";
import type { AppEnv } from "./context.ts";
import { checkTopicAllowed } from "./matchRequests.ts";

/**
 * Query parameters that say where the join's bucket is on a route that names it in the query
 * (the SSE route); they are the router's, not the actor's, so they are not forwarded.
 */
const ROUTING_PARAMS = ["token", "difficulty", "topic"];

/**
 * A join of `bucket` by the authenticated caller, checked and turned into the WebSocket upgrade
 * its bucket actor gets: the same for the socket route and the SSE route, so a join means one
 * thing whichever way it arrives. Other query parameters (`also`, `widen`) go to the actor as
 * they came. Maintenance is the bucket's to refuse (its user's shard says so when claiming a new
 * request), so a user with a live request still resumes it.
 */
export function joinBucket(c: Context<AppEnv>, bucket: Bucket): Promise<Response> {
  checkTopicAllowed(c.get("config").TOPICS, bucket.topic);
  const role = roleSchema.safeParse(c.req.query("role") ?? "either");
  if (!role.success) {
    throw new ApiError(400, "invalid_parameter", "`role` must be interviewer, interviewee or either.");
  }
  const identity = c.get("identity");
  // The token stays here: the actor gets the verified user id, and the URL it keeps with the
  // socket carries no credentials.
  const url = new URL(c.req.url);
  for (const p of ROUTING_PARAMS) url.searchParams.delete(p);
  url.pathname = `/parties/bucket/${roomName(bucket)}`;
  const forwarded = new Request(url, c.req.raw);
  forwarded.headers.set("Upgrade", "websocket");
  forwarded.headers.set(USER_HEADER, identity.userId);
  forwarded.headers.set(TOKEN_EXP_HEADER, String(identity.expiresAt));
  forwarded.headers.set(ROLE_HEADER, role.data);
  if (identity.rating === null) forwarded.headers.delete(RATING_HEADER);
  else forwarded.headers.set(RATING_HEADER, String(identity.rating));
  forwarded.headers.delete("authorization");
  return bucketActor(c.env, bucketActorName(identity.tenant, bucket)).fetch(forwarded);
}

import type { Context } from "hono";
import { bucketActor } from "../actors.ts";
import {
  ALSO_HEADER,
  RATING_HEADER,
  RESUME_HEADER,
  ROLE_HEADER,
  TOKEN_EXP_HEADER,
  USER_HEADER,
  WIDEN_HEADER,
} from "../bucket/forwarding.ts";
import { alsoRooms, parseAlsoParam, parseWidenParam } from "../protocol/flexible.ts";
import { type Bucket, type Role, requestIdSchema, roleSchema, roomName } from "../protocol/values.ts";
import { bucketActorName } from "../tenancy.ts";
import { ApiError } from "./apiError.ts";
import type { AppEnv } from "./context.ts";
import { checkTopicAllowed } from "./matchRequests.ts";

/**
 * Query parameters the router reads itself: where the join's bucket is on a route that names it
 * in the query (the SSE route), the token, and what the join asks for, which goes to the actor
 * checked and canonical, in headers.
 */
const ROUTER_PARAMS = ["token", "difficulty", "topic", "role", "also", "widen", "resume"];

/**
 * A join of `bucket` by the authenticated caller, checked and turned into the WebSocket upgrade
 * its bucket actor gets: the same for the socket route and the SSE route, so a join means one
 * thing whichever way it arrives (role, the other buckets of a flexible request, widening).
 * Maintenance is the bucket's to refuse (its user's shard says so when claiming a new
 * request), so a user with a live request still resumes it.
 */
export function joinBucket(c: Context<AppEnv>, join: CheckedJoin): Promise<Response> {
  const { bucket, role, also, widen, resume } = join;
  const identity = c.get("identity");
  // The token stays here: the actor gets the verified user id, and the URL it keeps with the
  // socket carries no credentials.
  const url = new URL(c.req.url);
  for (const p of ROUTER_PARAMS) url.searchParams.delete(p);
  url.pathname = `/parties/bucket/${roomName(bucket)}`;
  const forwarded = new Request(url, c.req.raw);
  forwarded.headers.set("Upgrade", "websocket");
  forwarded.headers.set(USER_HEADER, identity.userId);
  forwarded.headers.set(TOKEN_EXP_HEADER, String(identity.expiresAt));
  forwarded.headers.set(ROLE_HEADER, role);
  forwarded.headers.set(ALSO_HEADER, also.join(","));
  forwarded.headers.set(WIDEN_HEADER, widen ? "1" : "0");
  if (resume === null) forwarded.headers.delete(RESUME_HEADER);
  else forwarded.headers.set(RESUME_HEADER, resume);
  if (identity.rating === null) forwarded.headers.delete(RATING_HEADER);
  else forwarded.headers.set(RATING_HEADER, String(identity.rating));
  forwarded.headers.delete("authorization");
  return bucketActor(c.env, bucketActorName(identity.tenant, bucket)).fetch(forwarded);
}

/** A join's wishes, checked and canonical. */
export type CheckedJoin = {
  bucket: Bucket;
  role: Role;
  also: string[];
  widen: boolean;
  resume: string | null;
};

/** The join's query checked (400s) before anything else is, the missing upgrade included. */
export function checkJoin(c: Context<AppEnv>, bucket: Bucket): CheckedJoin {
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
  if (widen === undefined) {
    throw new ApiError(400, "invalid_parameter", "`widen` must be 1, true, 0 or false.");
  }
  const resumeParam = c.req.query("resume");
  const resume =
    resumeParam === undefined || resumeParam === "" ? null : requestIdSchema.safeParse(resumeParam);
  if (resume && !resume.success) {
    throw new ApiError(
      400,
      "invalid_parameter",
      "`resume` must be a request id (`req_…`) this client was given.",
    );
  }
  return { bucket, role: role.data, also: also.rooms, widen, resume: resume ? resume.data : null };
}

/** A socket path reached without the upgrade: told so only once the call is otherwise good. */
export function requireUpgrade(c: Context<AppEnv>): void {
  if (c.req.header("upgrade")?.toLowerCase() !== "websocket") {
    throw new ApiError(426, "upgrade_required", "This path only accepts WebSocket upgrades.", {
      headers: { Upgrade: "websocket" },
    });
  }
}

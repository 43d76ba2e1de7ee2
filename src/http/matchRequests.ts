import { type Context, Hono } from "hono";
import type { z } from "zod";
import { bucketActor, registryShard } from "../actors.ts";
import { notFound, type Refusal } from "../bucket/refusal.ts";
import { alsoRooms } from "../protocol/flexible.ts";
import { confirmBody, createRequestBody } from "../protocol/http.ts";
import { difficultySchema, requestIdSchema, topicSchema } from "../protocol/values.ts";
import { bucketActorName } from "../tenancy.ts";
import { ApiError } from "./apiError.ts";
import { authenticate } from "./authenticate.ts";
import type { AppEnv } from "./context.ts";
import { validJson } from "./validJson.ts";

/**
 * The HTTP half of the contract (compatible with PeerPrep's matching service). Requests live in the same bucket actors
 * as the sockets' requests; the user's registry shard says which bucket holds which request.
 */
export const matchRequests = new Hono<AppEnv>();

matchRequests.post("/request", authenticate, async (c) => {
  const body = await validJson(c, createRequestBody);
  const { userId, tenant } = c.get("identity");
  const topics = c.get("config").TOPICS;
  checkTopicAllowed(topics, body.topic);
  const also = alsoRooms(body, body.also, topics);
  if (!also.ok) throw new ApiError(400, also.code, also.message);
  const answer = await bucketActor(c.env, bucketActorName(tenant, body)).createRequest(userId, {
    role: body.role,
    rating: c.get("identity").rating,
    also: also.rooms,
    widen: body.widen,
  });
  if (!answer.ok) throw fromRefusal(answer);
  return c.json(answer.request, answer.created ? 201 : 200);
});

matchRequests.get("/request/:id", authenticate, async (c) => {
  const { userId, requestId, room } = await ownRequest(c);
  const answer = await bucketActor(c.env, room).getRequest(userId, requestId);
  if (!answer.ok) throw fromRefusal(answer);
  return c.json(answer.request);
});

matchRequests.delete("/request/:id", authenticate, async (c) => {
  const { userId, requestId, room } = await ownRequest(c);
  const answer = await bucketActor(c.env, room).cancelRequest(userId, requestId);
  if (!answer.ok) throw fromRefusal(answer);
  return c.json({ message: "Match request cancelled" });
});

matchRequests.get("/me/request", authenticate, async (c) => {
  const { userId } = c.get("identity");
  // Rooms the registry answers are actor names, tenant included.
  const room = await registryOf(c, userId).liveRoom(userId);
  const view = room ? await bucketActor(c.env, room).liveRequest(userId) : null;
  if (!view) throw new ApiError(404, "not_found", "You have no live request. Create one with POST /request.");
  return c.json(view);
});

matchRequests.post("/confirm", authenticate, async (c) => {
  const { match_id: matchId, confirmed } = await validJson(c, confirmBody);
  const { userId } = c.get("identity");
  const registry = registryOf(c, userId);
  // The live request's bucket first; a match that already ended lives in a recent one.
  const live = await registry.liveRoom(userId);
  const rooms = live ? [live] : await registry.recentRooms(userId);
  let refusal: Refusal | undefined;
  for (const room of rooms) {
    const answer = await bucketActor(c.env, room).respond(userId, matchId, confirmed);
    if (answer.ok) {
      const match = answer.view.match!;
      if (answer.state === "declined") return c.json({ match_id: matchId, detail: "Match declined" });
      if (answer.state === "ready") {
        return c.json({
          match_id: matchId,
          partner_id: match.partnerId,
          question_id: match.questionId,
          collaboration_session_id: match.collaborationSessionId,
        });
      }
      const detail =
        answer.state === "setting_up"
          ? "Both confirmed; setting up your session"
          : "Waiting for partner confirmation";
      return c.json({ detail }, 202);
    }
    if (!refusal || refusal.status === 404) refusal = answer;
  }
  throw fromRefusal(refusal ?? notFound(`No match ${matchId} of yours is known.`));
});

matchRequests.get("/queues/:difficulty/:topic", authenticate, async (c) => {
  const difficulty = param(difficultySchema, c.req.param("difficulty"), "difficulty");
  const topic = param(topicSchema, c.req.param("topic"), "topic");
  checkTopicAllowed(c.get("config").TOPICS, topic);
  const { tenant } = c.get("identity");
  return c.json(await bucketActor(c.env, bucketActorName(tenant, { difficulty, topic })).queueFigures());
});

function param<S extends z.ZodType>(schema: S, value: string, what: string): z.output<S> {
  const parsed = schema.safeParse(value);
  if (!parsed.success) throw new ApiError(400, "invalid_parameter", `\`${value}\` is not a valid ${what}.`);
  return parsed.data;
}

export function checkTopicAllowed(topics: string[], topic: string): void {
  if (topics.length > 0 && !topics.includes(topic)) {
    throw new ApiError(400, "unknown_topic", `Topic must be one of: ${topics.join(", ")}.`);
  }
}

/** The `:id` request of the caller and the bucket it lives in, found through their registry shard. */
async function ownRequest(c: Context<AppEnv>): Promise<{ userId: string; requestId: string; room: string }> {
  const id = requestIdSchema.safeParse(c.req.param("id"));
  const { userId } = c.get("identity");
  // A malformed id is nobody's request: 404 like any unknown one, without asking anyone.
  const room = id.success ? await registryOf(c, userId).roomOfRequest(userId, id.data) : null;
  if (!id.success || !room) throw new ApiError(404, "not_found", "No such request of yours is known.");
  return { userId, requestId: id.data, room };
}

/** The caller's registry shard (their tenant's); the rooms it answers are bucket actor names. */
export function registryOf(c: Context<AppEnv>, userId: string) {
  return registryShard(c.env, c.get("identity").tenant, userId, c.get("config").REGISTRY_SHARDS);
}

export function fromRefusal(r: Refusal): ApiError {
  const headers: Record<string, string> =
    r.retryAfterSeconds === undefined ? {} : { "Retry-After": String(r.retryAfterSeconds) };
  return new ApiError(r.status, r.code, r.message, { headers });
}

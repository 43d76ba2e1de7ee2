import { type Context, Hono } from "hono";
import { userActor } from "../actors.ts";
import type { ChallengeFailure } from "../challenges/UserActor.ts";
import { challengeIdSchema, challengeListAnswer, createChallengeBody } from "../protocol/challenges.ts";
import { ApiError } from "./apiError.ts";
import { authenticate } from "./authenticate.ts";
import type { AppEnv } from "./context.ts";
import { checkTopicAllowed } from "./matchRequests.ts";
import { validJson } from "./validJson.ts";

/**
 * Challenges (docs/protocol.md, "Challenges"). Every call goes to the caller's own
 * object (`UserActor`), which answers from what it owns or asks the owner: a challenge lives
 * with its opponent, the challenger keeps an index of the ones they sent.
 */
export const challenges = new Hono<AppEnv>();

challenges.post("/challenges", authenticate, async (c) => {
  const body = await validJson(c, createChallengeBody);
  checkTopicAllowed(c.get("config").TOPICS, body.topic);
  const answer = await own(c).create({
    opponentId: body.opponentId,
    bucket: { difficulty: body.difficulty, topic: body.topic },
    role: body.role,
  });
  if (!answer.ok) throw fromFailure(answer);
  return c.json(answer.challenge, 201);
});

challenges.get("/challenges/incoming", authenticate, async (c) =>
  c.json(challengeListAnswer.parse(await own(c).list("incoming"))),
);

challenges.get("/challenges/outgoing", authenticate, async (c) =>
  c.json(challengeListAnswer.parse(await own(c).list("outgoing"))),
);

challenges.get("/challenges/:id", authenticate, async (c) => {
  const answer = await own(c).view(challengeId(c));
  if (!answer.ok) throw fromFailure(answer);
  return c.json(answer.challenge);
});

challenges.post("/challenges/:id/accept", authenticate, async (c) => {
  const answer = await own(c).accept(challengeId(c));
  if (!answer.ok) throw fromFailure(answer);
  return c.json(answer.answer);
});

challenges.post("/challenges/:id/decline", authenticate, async (c) => {
  const answer = await own(c).decline(challengeId(c));
  if (!answer.ok) throw fromFailure(answer);
  return c.json(answer.challenge);
});

challenges.delete("/challenges/:id", authenticate, async (c) => {
  const answer = await own(c).cancel(challengeId(c));
  if (!answer.ok) throw fromFailure(answer);
  return c.json(answer.challenge);
});

function own(c: Context<AppEnv>) {
  const { tenant, userId } = c.get("identity");
  return userActor(c.env, tenant, userId);
}

/** A malformed id is nobody's challenge: 404 like any other unknown one. */
function challengeId(c: Context<AppEnv>): string {
  const id = challengeIdSchema.safeParse(c.req.param("id"));
  if (!id.success) throw new ApiError(404, "not_found", "No such challenge of yours.");
  return id.data;
}

function fromFailure(f: ChallengeFailure): ApiError {
  const retry = "retryAfterSeconds" in f && f.retryAfterSeconds !== undefined;
  return new ApiError(f.status, f.code, f.message, {
    headers: retry ? { "Retry-After": String(f.retryAfterSeconds) } : {},
  });
}

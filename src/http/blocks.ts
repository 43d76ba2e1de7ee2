import { Hono } from "hono";
import { userActor } from "../actors.ts";
import { blockListAnswer, userIdSchema } from "../protocol/http.ts";
import { ApiError } from "./apiError.ts";
import { authenticate } from "./authenticate.ts";
import type { AppEnv } from "./context.ts";
import { registryOf } from "./matchRequests.ts";

/**
 * `PUT` / `DELETE /me/blocks/{userId}` and `GET /me/blocks`. Blocks live with the user's claim in
 * their registry shard, which hands them to a bucket with every granted claim and pushes a change
 * to the bucket holding the user's live request: no database on the join path.
 */
export const blocks = new Hono<AppEnv>();

blocks.put("/me/blocks/:userId", authenticate, async (c) => {
  const { userId, blockedId } = target(c.get("identity").userId, c.req.param("userId"));
  applied(await registryOf(c, userId).setBlock(userId, blockedId, true));
  // Pending challenges between the two end too (an accept would be refused 403 anyway).
  await userActor(c.env, c.get("identity").tenant, userId).blocked(blockedId);
  return c.body(null, 204);
});

blocks.delete("/me/blocks/:userId", authenticate, async (c) => {
  const { userId, blockedId } = target(c.get("identity").userId, c.req.param("userId"));
  applied(await registryOf(c, userId).setBlock(userId, blockedId, false));
  return c.body(null, 204);
});

/** Saved, but the bucket of the user's waiting request did not hear of it: ask for the (idempotent) retry. */
function applied(answer: { applied: boolean }): void {
  if (answer.applied) return;
  throw new ApiError(
    503,
    "unavailable",
    "Your block list is saved, but your waiting request could not be updated just now; send the same request again.",
    { headers: { "Retry-After": "1" } },
  );
}

blocks.get("/me/blocks", authenticate, async (c) => {
  const { userId } = c.get("identity");
  return c.json(blockListAnswer.parse({ blocked: await registryOf(c, userId).blocks(userId) }));
});

function target(userId: string, raw: string): { userId: string; blockedId: string } {
  const parsed = userIdSchema.safeParse(raw);
  // The id is not echoed back: it may be 10 KB of anything.
  if (!parsed.success) throw new ApiError(400, "invalid_parameter", "User ids are 1-128 characters.");
  const blockedId = parsed.data;
  if (blockedId === userId) throw new ApiError(400, "invalid_parameter", "You cannot block yourself.");
  return { userId, blockedId };
}

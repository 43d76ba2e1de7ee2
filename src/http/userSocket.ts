import { Hono } from "hono";
import { userActor } from "../actors.ts";
import { TOKEN_EXP_HEADER, USER_HEADER } from "../bucket/forwarding.ts";
import { ApiError } from "./apiError.ts";
import { authenticateWithQueryToken } from "./authenticate.ts";
import { requireUpgrade } from "./bucketJoin.ts";
import type { AppEnv } from "./context.ts";

/**
 * `GET /parties/user/{userId}` (partysocket `party: "user"`): the user's own channel. The room
 * must be the caller's own id (in their tenant, since the object's name carries it); anything
 * else is refused before the upgrade, so a forged room never reaches an object.
 */
export const userSocket = new Hono<AppEnv>().get("/:userId", authenticateWithQueryToken, async (c) => {
  const { tenant, userId } = c.get("identity");
  if (c.req.param("userId") !== userId) {
    throw new ApiError(403, "forbidden", "This channel is another user's; open /parties/user/{your own id}.");
  }
  requireUpgrade(c);
  const url = new URL(c.req.url);
  url.searchParams.delete("token");
  const forwarded = new Request(url, c.req.raw);
  forwarded.headers.set(USER_HEADER, userId);
  forwarded.headers.set(TOKEN_EXP_HEADER, String(c.get("identity").expiresAt));
  forwarded.headers.delete("authorization");
  return userActor(c.env, tenant, userId).fetch(forwarded);
});

import { Hono } from "hono";
import { z } from "zod";
import { mintDevToken } from "../auth/devToken.ts";
import { ApiError } from "./apiError.ts";
import type { AppEnv } from "./context.ts";
import { validJson } from "./validJson.ts";

export const devTokenBody = z.object({ userId: z.string().trim().min(1).max(64) }).strict();

/**
 * `POST /api/v1/matching/dev/token {userId}` -> `{token}`: lets the demo page sign in as anyone.
 * It exists only when DEV_TOKENS=1 (which `npm start` sets locally); everywhere else it is a 404
 * indistinguishable from any other unknown path.
 */
export const devTokens = new Hono<AppEnv>().post("/", async (c) => {
  const config = c.get("config");
  if (!config.DEV_TOKENS || !config.JWT_SECRET) {
    throw new ApiError(404, "not_found", "No such endpoint. The API lives under /api/v1/matching.");
  }
  const { userId } = await validJson(c, devTokenBody);
  return c.json({ token: await mintDevToken(config.JWT_SECRET, userId), expiresInSeconds: 3600 });
});

import { Hono } from "hono";
import { z } from "zod";
import { mintDevToken } from "../auth/devToken.ts";
import { ApiError } from "./apiError.ts";
import type { AppEnv } from "./context.ts";
import { validJson } from "./validJson.ts";

export const devTokenBody = z
  .object({
    userId: z.string().trim().min(1).max(64),
    /** An admin's token (the `JWT_ADMIN_CLAIM` claim says `admin`), for the dashboard at `/admin`. */
    admin: z.boolean().default(false),
  })
  .strict();

/**
 * `POST /api/v1/matching/dev/token {userId, admin?}` -> `{token}`: lets the demo page sign in as
 * anyone, and the dashboard as an admin.
 * It exists only when DEV_TOKENS=1 (which `npm start` sets locally); everywhere else it is a 404
 * indistinguishable from any other unknown path.
 */
export const devTokens = new Hono<AppEnv>().post("/", async (c) => {
  const config = c.get("config");
  if (!config.DEV_TOKENS || !config.JWT_SECRET) {
    throw new ApiError(404, "not_found", "No such endpoint. The API lives under /api/v1/matching.");
  }
  const { userId, admin } = await validJson(c, devTokenBody);
  const claims = admin ? { [config.JWT_ADMIN_CLAIM]: "admin" } : {};
  return c.json({
    token: await mintDevToken(config.JWT_SECRET, userId, { claims }),
    expiresInSeconds: 3600,
  });
});

import { createMiddleware } from "hono/factory";
import { TokenError, verifyToken } from "../auth/verifyToken.ts";
import { ApiError } from "./apiError.ts";
import type { AppEnv } from "./context.ts";

/**
 * Require a valid token: `Authorization: Bearer …`. Refused callers get 401 with
 * `WWW-Authenticate` and never reach a Durable Object.
 */
export const authenticate = authenticator(false);

/**
 * The same, or `?token=`: for the socket paths and the event stream only, since a browser's
 * WebSocket and `EventSource` cannot set headers (elsewhere a token in a URL ends up in logs and
 * history). Taken on any call to those paths, so a call that is not an upgrade still hears what
 * is wrong with it (400, 403) before the 426.
 */
export const authenticateWithQueryToken = authenticator(true);

function authenticator(tokenInQuery: boolean) {
  return createMiddleware<AppEnv>(async (c, next) => {
    const header = c.req.header("authorization");
    let token: string | undefined;
    if (header) {
      const m = /^Bearer\s+(\S+)\s*$/i.exec(header);
      if (!m) throw unauthorized("invalid_request", "Use `Authorization: Bearer <token>`.");
      token = m[1];
    } else if (tokenInQuery) {
      token = c.req.query("token") || undefined;
    }
    if (!token) throw unauthorized("invalid_request", "A bearer token is required.");
    try {
      c.set("identity", await verifyToken(token, c.get("config")));
    } catch (e) {
      if (e instanceof TokenError) throw unauthorized("invalid_token", e.message);
      throw e;
    }
    await next();
  });
}

function unauthorized(kind: "invalid_request" | "invalid_token", message: string): ApiError {
  return new ApiError(401, "unauthorized", message, {
    headers: { "WWW-Authenticate": `Bearer realm="matcher", error="${kind}"` },
  });
}

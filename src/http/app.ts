import { type Context, Hono } from "hono";
import { cors } from "hono/cors";
import { HTTPException } from "hono/http-exception";
import { configFromEnv, describeProblems } from "../config.ts";
import { ApiError, errorBody } from "./apiError.ts";
import { blocks } from "./blocks.ts";
import { bucketEvents } from "./bucketEvents.ts";
import { bucketSocket } from "./bucketSocket.ts";
import { challenges } from "./challenges.ts";
import type { AppEnv } from "./context.ts";
import { devTokens } from "./devTokens.ts";
import { health } from "./health.ts";
import { history } from "./history.ts";
import { matchRequests } from "./matchRequests.ts";
import { apiDocs } from "./openapi.ts";
import { internal, metrics, status } from "./operations.ts";
import { userSocket } from "./userSocket.ts";

export const app = new Hono<AppEnv>();

// Configuration is parsed once per isolate; a bad value answers 503 naming the key, never a 500.
app.use(async (c, next) => {
  const loaded = configFromEnv(c.env);
  if (!loaded.ok) {
    console.error(`Invalid configuration:\n${describeProblems(loaded.problems)}`);
    throw new ApiError(
      503,
      "misconfigured",
      `The service is misconfigured: ${describeProblems(loaded.problems)}`,
    );
  }
  c.set("config", loaded.config);
  await next();
});

// Browsers may call the HTTP API only from the origins listed in CORS_ORIGINS.
app.use(
  "/api/*",
  cors({
    origin: (origin, c: Context<AppEnv>) => (c.get("config").CORS_ORIGINS.includes(origin) ? origin : null),
    allowHeaders: ["Authorization", "Content-Type"],
    allowMethods: ["GET", "POST", "PUT", "DELETE", "OPTIONS"],
    exposeHeaders: ["Retry-After", "WWW-Authenticate"],
    maxAge: 600,
  }),
);

app.route("/api/v1/matching/health", health);
app.route("/api/v1/matching/status", status);
app.route("/metrics", metrics);
app.route("/api/v1/matching/internal", internal);
app.route("/", apiDocs);
app.route("/api/v1/matching/dev/token", devTokens);
app.route("/parties/bucket", bucketSocket);
app.route("/api/v1/matching/events", bucketEvents);
app.route("/api/v1/matching", matchRequests);
app.route("/api/v1/matching", history);
app.route("/api/v1/matching", blocks);
app.route("/parties/user", userSocket);
app.route("/api/v1/matching", challenges);

app.notFound(() => {
  throw new ApiError(404, "not_found", "No such endpoint. The API lives under /api/v1/matching.");
});

app.onError((err, c) => {
  if (err instanceof ApiError) {
    return c.json(errorBody(err.code, err.message, err.details), err.status, err.headers);
  }
  if (err instanceof HTTPException) {
    return c.json(errorBody("http_error", err.message || "Request refused."), err.status);
  }
  // Never a stack trace on the wire; the log keeps it.
  console.error("unhandled error", err);
  return c.json(errorBody("internal", "Something went wrong on our side; please retry."), 500);
});

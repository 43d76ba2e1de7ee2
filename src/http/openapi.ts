import { swaggerUI } from "@hono/swagger-ui";
import { Hono } from "hono";
import { z } from "zod";
import {
  acceptChallengeAnswer,
  challengeListAnswer,
  challengeView,
  createChallengeBody,
} from "../protocol/challenges.ts";
import {
  activityAnswer,
  blockListAnswer,
  cancelledAnswer,
  confirmBody,
  confirmedAnswer,
  createRequestBody,
  errorAnswer,
  healthAnswer,
  maintenanceAnswer,
  maintenanceBody,
  queueFigures,
  queueSummaryAnswer,
  requestView,
  statusAnswer,
  userIdSchema,
  waitingAnswer,
} from "../protocol/http.ts";
import { matchHistorySchema, matchRecordSchema, popularTopicsSchema } from "../records/recordSchemas.ts";
import type { AppEnv } from "./context.ts";
import { devTokenBody } from "./devTokens.ts";

/**
 * OpenAPI 3.1 for the HTTP API, generated from the same zod schemas the routes validate with,
 * so the document cannot drift from the code. Built once per isolate. test/worker/docs.test.ts
 * checks that every route of the app is in it.
 */
const input = (s: z.ZodType) => strip(z.toJSONSchema(s, { io: "input", unrepresentable: "any" }));
const output = (s: z.ZodType) => strip(z.toJSONSchema(s, { io: "output", unrepresentable: "any" }));

function strip(schema: Record<string, unknown>) {
  const { $schema: _, ...rest } = schema;
  return withoutSafeIntegerBounds(rest) as Record<string, unknown>;
}

/**
 * zod bounds every integer by Number.MIN/MAX_SAFE_INTEGER; Swagger UI would show those as the
 * example value of a count or a position. They say nothing a reader needs, so they go.
 */
function withoutSafeIntegerBounds(node: unknown): unknown {
  if (Array.isArray(node)) return node.map(withoutSafeIntegerBounds);
  if (typeof node !== "object" || node === null) return node;
  const out: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(node)) {
    if (key === "minimum" && value === Number.MIN_SAFE_INTEGER) continue;
    if (key === "maximum" && value === Number.MAX_SAFE_INTEGER) continue;
    out[key] = withoutSafeIntegerBounds(value);
  }
  return out;
}

/**
 * A JSON request body with the example "Try it out" sends: one the route accepts as it is, so
 * Execute succeeds once a token is authorized (test/worker/docs.test.ts sends each).
 */
const body = (schema: z.ZodType, example: Record<string, unknown>, description?: string) => ({
  required: true,
  ...(description === undefined ? {} : { description }),
  content: { "application/json": { schema: input(schema), example } },
});

const json = (schema: object, description: string) => ({
  description,
  content: { "application/json": { schema } },
});
const error = (description: string) => json({ $ref: "#/components/schemas/Error" }, description);
const auth = [{ bearer: [] }];
const common = {
  "400": error("Invalid input; zod issues in `details`"),
  "401": error("Missing or invalid token"),
};
const admin = {
  "401": error("Missing or invalid token"),
  "403": error("The token is not an admin's (`JWT_ADMIN_CLAIM`, default `role`, must be `admin`)"),
};
export const openApiDocument = {
  openapi: "3.1.0",
  info: {
    title: "Edge matcher",
    version: "1",
    description:
      "Pairs people for practice interviews by difficulty and topic. The WebSocket protocol at `/parties/bucket/{difficulty}.{topic}` is the primary path; this HTTP API serves clients without a socket.",
  },
  servers: [{ url: "/api/v1/matching" }],
  tags: [
    { name: "matching", description: "Requests and matches (the WebSocket is the primary path)" },
    { name: "history", description: "Durable records" },
    { name: "blocks", description: "Who is never paired with you" },
    {
      name: "challenges",
      description:
        "Invite one person. Events also arrive on your own channel, the WebSocket `/parties/user/{your id}`",
    },
    { name: "operations", description: "Health, status and metrics" },
    { name: "admin", description: "For a token whose admin claim says `admin`" },
  ],
  components: {
    securitySchemes: {
      bearer: {
        type: "http",
        scheme: "bearer",
        bearerFormat: "JWT",
        description:
          "A user's JWT. Locally: `npm run token -- alice`, or `POST /dev/token` under `npm start`.",
      },
      metricsToken: {
        type: "http",
        scheme: "bearer",
        description: "`METRICS_TOKEN`, for `GET /metrics` when it is set",
      },
    },
    schemas: { Error: output(errorAnswer), Request: output(requestView) },
  },
  paths: {
    "/request": {
      post: {
        tags: ["matching"],
        summary: "Join a bucket's queue",
        security: auth,
        requestBody: body(createRequestBody, { difficulty: "easy", topic: "arrays" }),
        responses: {
          "201": json({ $ref: "#/components/schemas/Request" }, "Created and queued (or matched at once)"),
          "200": json({ $ref: "#/components/schemas/Request" }, "You already wait in this bucket"),
          ...common,
          "409": error("`already_queued`: you wait in another bucket"),
          "413": error("Body over 16 KB"),
          "415": error("Body is not JSON"),
          "429": error("Too many joins; see `Retry-After`"),
          "503": error("Maintenance"),
        },
      },
    },
    "/request/{id}": {
      parameters: [{ name: "id", in: "path", required: true, schema: { type: "string" } }],
      get: {
        tags: ["matching"],
        summary: "Your request, with its match",
        security: auth,
        responses: {
          "200": json({ $ref: "#/components/schemas/Request" }, "The request"),
          ...common,
          "404": error("Unknown, or not yours"),
        },
      },
      delete: {
        tags: ["matching"],
        summary: "Cancel your request",
        security: auth,
        responses: {
          "200": json(output(cancelledAnswer), "Cancelled"),
          ...common,
          "404": error("Unknown, or not yours"),
          "409": error("Already confirmed or timed out"),
        },
      },
    },
    "/events": {
      get: {
        tags: ["matching"],
        summary: "Join a bucket and stream its events (Server-Sent Events)",
        description:
          "For clients without WebSockets: joins like `/parties/bucket/{difficulty}.{topic}` (creating or resuming your request) and streams the socket's frames as SSE, `event: <type>`, `data: <frame JSON>`, `id: <n>`, with a `: heartbeat` comment every 5 s. Act through `POST /confirm` and `DELETE /request/{id}`. Closing the stream is a disconnect (the reconnect grace applies); reconnecting resumes the request. The token may also be `?token=` (EventSource cannot set headers). `Last-Event-ID: n` continues the ids after n; `n-end` (the id left by a stream the server ended) is answered 204, which stops an EventSource from re-joining.",
        security: auth,
        parameters: [
          { name: "difficulty", in: "query", required: true, schema: { type: "string" }, example: "easy" },
          { name: "topic", in: "query", required: true, schema: { type: "string" }, example: "arrays" },
          {
            name: "role",
            in: "query",
            required: false,
            schema: { type: "string", enum: ["interviewer", "interviewee", "either"] },
          },
          { name: "token", in: "query", required: false, schema: { type: "string" } },
          { name: "Last-Event-ID", in: "header", required: false, schema: { type: "string" } },
        ],
        responses: {
          "200": {
            description:
              "The event stream: `queued` first (or `match_found` on resume), until the bucket closes",
            content: { "text/event-stream": { schema: { type: "string" } } },
          },
          "204": {
            description: "`Last-Event-ID` names a stream the server ended; open a new one without it",
          },
          ...common,
          "409": error("`already_queued`: you wait in another bucket"),
          "429": error("Too many joins; see `Retry-After`"),
          "503": error("Maintenance"),
        },
      },
    },
    "/me/request": {
      get: {
        tags: ["matching"],
        summary: "Your live request",
        security: auth,
        responses: {
          "200": json({ $ref: "#/components/schemas/Request" }, "The live request"),
          ...common,
          "404": error("None"),
        },
      },
    },
    "/confirm": {
      post: {
        tags: ["matching"],
        summary: "Confirm (or decline with `confirmed: false`) a proposed match",
        security: auth,
        requestBody: body(
          confirmBody,
          { match_id: "mat_2f1c9a4e-5b7d-4c3a-9e8f-0a1b2c3d4e5f", confirmed: true },
          "`match_id` is the `matchId` of your `match_found` (or `match.id` of `GET /request/{id}`)",
        ),
        responses: {
          "200": json(
            output(confirmedAnswer),
            "Both confirmed (again the same once ready, so a caller told 202 may ask once more)",
          ),
          "202": json(output(waitingAnswer), "Waiting for the partner, or for the session's setup"),
          ...common,
          "404": error("Unknown match, or not yours"),
          "409": error("The match is no longer pending"),
          "410": error("The confirmation window is over"),
        },
      },
    },
    "/queues/{difficulty}/{topic}": {
      parameters: [
        {
          name: "difficulty",
          in: "path",
          required: true,
          schema: { type: "string", enum: ["easy", "medium", "hard"] },
        },
        { name: "topic", in: "path", required: true, schema: { type: "string" }, example: "arrays" },
      ],
      get: {
        tags: ["matching"],
        summary: "Live figures for one bucket",
        security: auth,
        responses: { "200": json(output(queueFigures), "Figures"), ...common },
      },
    },
    "/me/blocks": {
      get: {
        tags: ["blocks"],
        summary: "The users you have blocked",
        security: auth,
        responses: { "200": json(output(blockListAnswer), "Your blocks, oldest first"), ...common },
      },
    },
    "/me/blocks/{userId}": {
      parameters: [{ name: "userId", in: "path", required: true, schema: input(userIdSchema) }],
      put: {
        tags: ["blocks"],
        summary:
          "Block a user: never paired with you again, waiting requests included; pending challenges between you end",
        security: auth,
        responses: { "204": { description: "Blocked" }, ...common, "400": error("Yourself, or a bad id") },
      },
      delete: {
        tags: ["blocks"],
        summary: "Lift a block",
        security: auth,
        responses: { "204": { description: "Lifted (or was not there)" }, ...common },
      },
    },
    "/challenges": {
      post: {
        tags: ["challenges"],
        summary: "Challenge a user to a match in one bucket; they have CHALLENGE_TTL_SECONDS to answer",
        security: auth,
        requestBody: body(
          createChallengeBody,
          { opponentId: "bob", difficulty: "easy", topic: "arrays" },
          "The opponent, the bucket, and the part you play first",
        ),
        responses: {
          "201": json(output(challengeView), "The pending challenge"),
          ...common,
          "400": error("Invalid input, or yourself"),
          "403": error("`blocked`: one of you has blocked the other"),
          "409": error("A pending challenge between you two exists, or either of you has a live request"),
          "429": error("`rate_limited`: more than 10 challenges sent in a minute; see `Retry-After`"),
          "503": error("`maintenance`: matching is paused; see `Retry-After`"),
        },
      },
    },
    "/challenges/incoming": {
      get: {
        tags: ["challenges"],
        summary: "Pending challenges you received, newest first",
        security: auth,
        responses: { "200": json(output(challengeListAnswer), "Pending challenges"), ...common },
      },
    },
    "/challenges/outgoing": {
      get: {
        tags: ["challenges"],
        summary: "Pending challenges you sent, newest first",
        security: auth,
        responses: { "200": json(output(challengeListAnswer), "Pending challenges"), ...common },
      },
    },
    "/challenges/{id}": {
      parameters: [{ name: "id", in: "path", required: true, schema: { type: "string" } }],
      get: {
        tags: ["challenges"],
        summary: "One challenge with its status (either party)",
        security: auth,
        responses: {
          "200": json(output(challengeView), "The challenge"),
          ...common,
          "404": error("Unknown, or not yours"),
        },
      },
      delete: {
        tags: ["challenges"],
        summary: "Cancel a challenge you sent",
        security: auth,
        responses: {
          "200": json(output(challengeView), "Now CANCELLED"),
          ...common,
          "404": error("Unknown, or not yours"),
          "409": error("Already decided, or you are the opponent"),
          "410": error("Expired"),
        },
      },
    },
    "/challenges/{id}/accept": {
      parameters: [{ name: "id", in: "path", required: true, schema: { type: "string" } }],
      post: {
        tags: ["challenges"],
        summary:
          "Accept a challenge you received: a match both count as confirmed, answered after session setup",
        security: auth,
        responses: {
          "200": json(output(acceptChallengeAnswer), "The match, set up"),
          ...common,
          "403": error("`blocked`: a block came after the challenge"),
          "404": error("Unknown, or not yours"),
          "409": error("Already decided, you are the challenger, or either of you has a live request"),
          "410": error("Expired"),
          "429": error("Too many new requests lately (the join rate); `Retry-After` says when"),
          "503": error(
            "`setup_failed`: the session could not be set up; the challenge is pending again. Also `maintenance`, `unavailable`",
          ),
        },
      },
    },
    "/challenges/{id}/decline": {
      parameters: [{ name: "id", in: "path", required: true, schema: { type: "string" } }],
      post: {
        tags: ["challenges"],
        summary: "Decline a challenge you received",
        security: auth,
        responses: {
          "200": json(output(challengeView), "Now DECLINED"),
          ...common,
          "404": error("Unknown, or not yours"),
          "409": error("Already decided, or you are the challenger"),
          "410": error("Expired"),
        },
      },
    },
    "/matches/{id}": {
      parameters: [{ name: "id", in: "path", required: true, schema: { type: "string" } }],
      get: {
        tags: ["history"],
        summary: "The durable record of one of your matches",
        security: auth,
        responses: {
          "200": json(output(matchRecordSchema), "The match"),
          ...common,
          "404": error("Unknown, or you were not in it"),
          "503": error("Database unavailable; see `Retry-After`"),
        },
      },
    },
    "/me/matches": {
      get: {
        tags: ["history"],
        summary: "Your match history, newest first",
        security: auth,
        parameters: [
          { name: "limit", in: "query", schema: { type: "integer", minimum: 1, maximum: 100, default: 20 } },
          {
            name: "cursor",
            in: "query",
            schema: { type: "string" },
            description: "`nextCursor` of the previous page",
          },
        ],
        responses: {
          "200": json(output(matchHistorySchema), "A page of matches"),
          ...common,
          "503": error("Database unavailable; see `Retry-After`"),
        },
      },
    },
    "/topics/popular": {
      get: {
        tags: ["history"],
        summary: "Topics ranked by recent matches",
        security: auth,
        parameters: [
          { name: "limit", in: "query", schema: { type: "integer", minimum: 1, maximum: 50, default: 10 } },
          { name: "hours", in: "query", schema: { type: "integer", minimum: 1, maximum: 720, default: 24 } },
        ],
        responses: {
          "200": json(output(popularTopicsSchema), "Ranked topics"),
          ...common,
          "503": error("Database unavailable; see `Retry-After`"),
        },
      },
    },
    "/health": {
      get: {
        tags: ["operations"],
        summary: "Liveness with a database round trip",
        responses: {
          "200": json(output(healthAnswer), "Up"),
          "503": json(output(healthAnswer), "Database unreachable"),
        },
      },
    },
    "/status": {
      get: {
        tags: ["operations"],
        summary: "Service status from live figures (the buckets' reports, not a scan)",
        responses: { "200": json(output(statusAnswer), "Status") },
      },
    },
    "/metrics": {
      // Prometheus scrapes the root, not the API base.
      servers: [{ url: "/", description: "The Worker's root" }],
      get: {
        tags: ["operations"],
        summary: "Prometheus metrics",
        description:
          "Prometheus text format: `matcher_joins_total`, `matcher_matches_total{outcome}`, `matcher_match_cancellations_total{reason}`, `matcher_queue_timeouts_total`, `matcher_waiting_requests`, `matcher_wait_seconds` (histogram). Needs `METRICS_TOKEN` as a bearer token when that is set.",
        security: [{ metricsToken: [] }, {}],
        responses: {
          "200": {
            description: "Metrics",
            content: { "text/plain": { schema: { type: "string" } } },
          },
          "401": error("`METRICS_TOKEN` is set and the bearer token is missing or wrong"),
        },
      },
    },
    "/internal/queues/summary": {
      get: {
        tags: ["admin"],
        summary: "Figures for every active bucket of your tenant",
        security: auth,
        responses: { "200": json(output(queueSummaryAnswer), "One entry per active bucket"), ...admin },
      },
    },
    "/internal/activity": {
      get: {
        tags: ["admin"],
        summary: "Your tenant's last hour, minute by minute (what the dashboard at /admin draws)",
        description:
          "Matches proposed, confirmed and cancelled and queue timeouts per minute, the distribution of waits from joining to `match_found`, cancellations by reason and flexible hand-overs, all over the last hour. From the buckets' reports, not a scan.",
        security: auth,
        responses: { "200": json(output(activityAnswer), "The last hour"), ...admin },
      },
    },
    "/internal/maintenance": {
      get: {
        tags: ["admin"],
        summary: "Whether maintenance is on",
        security: auth,
        responses: { "200": json(output(maintenanceAnswer), "The state"), ...admin },
      },
      put: {
        tags: ["admin"],
        summary: "Turn maintenance on or off without a redeploy",
        description:
          "While on, new requests are refused (HTTP 503, sockets closed with 1013); requests under way finish.",
        security: auth,
        requestBody: body(maintenanceBody, { on: false }),
        responses: {
          "200": json(output(maintenanceAnswer), "The new state"),
          "400": error("Invalid input; zod issues in `details`"),
          ...admin,
        },
      },
    },
  },
};

/**
 * `POST /dev/token` exists only where DEV_TOKENS=1 (which `npm start` sets) and a JWT_SECRET is
 * configured; elsewhere it is a 404, so only there is it in the document.
 */
const devTokenPath = {
  "/dev/token": {
    post: {
      tags: ["development"],
      summary: "A development token for any user (only where DEV_TOKENS=1)",
      requestBody: body(devTokenBody, { userId: "alice" }),
      responses: {
        "200": json(
          {
            type: "object",
            required: ["token", "expiresInSeconds"],
            properties: { token: { type: "string" }, expiresInSeconds: { type: "integer" } },
          },
          "A signed JWT; paste it into Authorize",
        ),
        "400": common["400"],
      },
    },
  },
};
const withDevTokens = {
  ...openApiDocument,
  tags: [...openApiDocument.tags, { name: "development", description: "Only under `npm start`" }],
  paths: { ...openApiDocument.paths, ...devTokenPath },
};

/** Where `/docs` loads Swagger UI from: public/build/swagger-ui-dist/, copied by scripts/docsAssets.ts. */
export const SWAGGER_UI_BASE = "/build";
export const OPENAPI_PATH = "/api/v1/matching/openapi.json";

export const apiDocs = new Hono<AppEnv>()
  .get(OPENAPI_PATH, (c) => {
    const { DEV_TOKENS, JWT_SECRET } = c.get("config");
    return c.json(DEV_TOKENS && JWT_SECRET ? withDevTokens : openApiDocument);
  })
  // Swagger UI from our own static assets (no CDN), so it works offline.
  // "Authorize" takes a bearer token that "Try it out" then sends.
  .get(
    "/docs",
    swaggerUI({
      url: OPENAPI_PATH,
      baseUrl: SWAGGER_UI_BASE,
      title: "Edge matcher API",
      // The default shows a badge loaded from validator.swagger.io.
      validatorUrl: "none",
      tryItOutEnabled: true,
      displayRequestDuration: true,
      deepLinking: true,
    }),
  );

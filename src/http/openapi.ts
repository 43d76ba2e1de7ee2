import { Hono } from "hono";
import { z } from "zod";
import {
  blockListAnswer,
  cancelledAnswer,
  confirmBody,
  confirmedAnswer,
  createRequestBody,
  errorAnswer,
  healthAnswer,
  queueFigures,
  requestView,
  userIdSchema,
  waitingAnswer,
} from "../protocol/http.ts";
import { matchHistorySchema, matchRecordSchema, popularTopicsSchema } from "../records/recordSchemas.ts";
import type { AppEnv } from "./context.ts";
import { docsPage } from "./docsPage.ts";

/**
 * OpenAPI 3.1 for the HTTP API, generated from the same zod schemas the routes validate with,
 * so the document cannot drift from the code. Built once per isolate.
 */
const input = (s: z.ZodType) => strip(z.toJSONSchema(s, { io: "input", unrepresentable: "any" }));
const output = (s: z.ZodType) => strip(z.toJSONSchema(s, { io: "output", unrepresentable: "any" }));

function strip(schema: Record<string, unknown>) {
  const { $schema: _, ...rest } = schema;
  return rest;
}

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

export const openApiDocument = {
  openapi: "3.1.0",
  info: {
    title: "Edge matcher",
    version: "1",
    description:
      "Pairs people for practice interviews by difficulty and topic. The WebSocket protocol at `/parties/bucket/{difficulty}.{topic}` is the primary path; this HTTP API serves clients without a socket.",
  },
  servers: [{ url: "/api/v1/matching" }],
  components: {
    securitySchemes: { bearer: { type: "http", scheme: "bearer", bearerFormat: "JWT" } },
    schemas: { Error: output(errorAnswer), Request: output(requestView) },
  },
  paths: {
    "/request": {
      post: {
        summary: "Join a bucket's queue",
        security: auth,
        requestBody: {
          required: true,
          content: { "application/json": { schema: input(createRequestBody) } },
        },
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
        summary: "Your request, with its match",
        security: auth,
        responses: {
          "200": json({ $ref: "#/components/schemas/Request" }, "The request"),
          ...common,
          "404": error("Unknown, or not yours"),
        },
      },
      delete: {
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
    "/me/request": {
      get: {
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
        summary: "Confirm (or decline with `confirmed: false`) a proposed match",
        security: auth,
        requestBody: { required: true, content: { "application/json": { schema: input(confirmBody) } } },
        responses: {
          "200": json(output(confirmedAnswer), "Both confirmed"),
          "202": json(output(waitingAnswer), "Waiting for the partner"),
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
        { name: "topic", in: "path", required: true, schema: { type: "string" } },
      ],
      get: {
        summary: "Live figures for one bucket",
        security: auth,
        responses: { "200": json(output(queueFigures), "Figures"), ...common },
      },
    },
    "/me/blocks": {
      get: {
        summary: "The users you have blocked",
        security: auth,
        responses: { "200": json(output(blockListAnswer), "Your blocks, oldest first"), ...common },
      },
    },
    "/me/blocks/{userId}": {
      parameters: [{ name: "userId", in: "path", required: true, schema: input(userIdSchema) }],
      put: {
        summary: "Block a user: never paired with you again, waiting requests included",
        security: auth,
        responses: { "204": { description: "Blocked" }, ...common, "400": error("Yourself, or a bad id") },
      },
      delete: {
        summary: "Lift a block",
        security: auth,
        responses: { "204": { description: "Lifted (or was not there)" }, ...common },
      },
    },
    "/matches/{id}": {
      parameters: [{ name: "id", in: "path", required: true, schema: { type: "string" } }],
      get: {
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
        summary: "Liveness with a database round trip",
        responses: {
          "200": json(output(healthAnswer), "Up"),
          "503": json(output(healthAnswer), "Database unreachable"),
        },
      },
    },
  },
};

export const apiDocs = new Hono<AppEnv>()
  .get("/api/v1/matching/openapi.json", (c) => c.json(openApiDocument))
  .get("/docs", (c) => c.html(docsPage));

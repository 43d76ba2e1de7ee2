import type { Context } from "hono";
import { Hono } from "hono";
import { z } from "zod";
import { type Database, withDatabase } from "../db/connect.ts";
import { errorMessage } from "../errorMessage.ts";
import { matchIdSchema } from "../protocol/values.ts";
import { isDatabaseUnavailable } from "../records/databaseErrors.ts";
import {
  decodeCursor,
  findMatchFor,
  HISTORY_MAX_LIMIT,
  InvalidCursorError,
  matchHistory,
  POPULAR_MAX_LIMIT,
  popularTopics,
} from "../records/queries.ts";
import type { MatchHistory, MatchRecord, PopularTopics } from "../records/recordSchemas.ts";
import { ApiError } from "./apiError.ts";
import { authenticate } from "./authenticate.ts";
import type { AppEnv } from "./context.ts";

/** Longest a history read may take, connect included, before the caller gets a 503. */
const READ_TIMEOUT_MS = 8_000;

const wholeNumber = (min: number, max: number, fallback: number) =>
  z
    .string()
    .regex(/^\d{1,6}$/, "must be a whole number")
    .transform(Number)
    .pipe(z.number().int().min(min, `must be at least ${min}`).max(max, `must be at most ${max}`))
    .optional()
    .transform((v) => v ?? fallback);

export const historyQuery = z.object({
  limit: wholeNumber(1, HISTORY_MAX_LIMIT, 20),
  cursor: z.string().min(1).max(400).optional(),
});

export const popularQuery = z.object({
  limit: wholeNumber(1, POPULAR_MAX_LIMIT, 10),
  /** The window: matches created in the last `hours` hours (up to 30 days). */
  hours: wholeNumber(1, 720, 24),
});

/**
 * The durable records, read from Postgres (never from the bucket actors):
 * - `GET /matches/{id}`: one match, to its participants only (404 for anyone else).
 * - `GET /me/matches?limit=&cursor=`: the caller's matches, newest first.
 * - `GET /topics/popular?limit=&hours=`: topics ranked by matches created in the window.
 * Mounted at `/api/v1/matching`. 503 `database_unavailable` when Postgres cannot be reached.
 */
export const history = new Hono<AppEnv>()
  .get("/matches/:id", authenticate, async (c) => {
    const id = c.req.param("id");
    // Anything that is not a match id names no match: no need to ask the database.
    const found = matchIdSchema.safeParse(id).success
      ? await read(c, (db) => findMatchFor(db, id, c.get("identity").userId, c.get("identity").tenant))
      : null;
    if (!found) throw new ApiError(404, "not_found", "No match with this id has you as a participant.");
    c.header("Cache-Control", "no-store");
    return c.json(found satisfies MatchRecord);
  })
  .get("/me/matches", authenticate, async (c) => {
    const { limit, cursor } = validQuery(c, historyQuery);
    if (cursor !== undefined) {
      try {
        decodeCursor(cursor);
      } catch (e) {
        if (!(e instanceof InvalidCursorError)) throw e;
        throw new ApiError(400, "validation_failed", "The query parameters are not valid; see details.", {
          details: [{ path: "cursor", message: e.message, code: "invalid_cursor" }],
        });
      }
    }
    const page: MatchHistory = await read(c, (db) =>
      matchHistory(db, c.get("identity").userId, { limit, cursor, tenant: c.get("identity").tenant }),
    );
    c.header("Cache-Control", "no-store");
    return c.json(page);
  })
  .get("/topics/popular", authenticate, async (c) => {
    const { limit, hours } = validQuery(c, popularQuery);
    const sinceMs = Date.now() - hours * 3_600_000;
    const { tenant } = c.get("identity");
    const topics = await read(c, (db) => popularTopics(db, { sinceMs, limit, tenant }));
    c.header("Cache-Control", "private, max-age=60");
    return c.json({ since: new Date(sinceMs).toISOString(), hours, topics } satisfies PopularTopics);
  });

function validQuery<S extends z.ZodType>(c: Context<AppEnv>, schema: S): z.output<S> {
  const parsed = schema.safeParse(c.req.query());
  if (!parsed.success) {
    throw new ApiError(400, "validation_failed", "The query parameters are not valid; see details.", {
      details: parsed.error.issues.map((i) => ({ path: i.path.join("."), message: i.message, code: i.code })),
    });
  }
  return parsed.data;
}

/** One unit of work against Postgres; unreachable, down or too slow answers 503. */
async function read<T>(c: Context<AppEnv>, work: (db: Database) => Promise<T>): Promise<T> {
  const { DATABASE_URL, NEON_WS_PROXY } = c.get("config");
  if (!DATABASE_URL)
    throw unavailable("The match records are not configured on this deployment (DATABASE_URL).");
  try {
    return await withDatabase(DATABASE_URL, NEON_WS_PROXY, work, { timeoutMs: READ_TIMEOUT_MS });
  } catch (e) {
    if (!isDatabaseUnavailable(e)) throw e;
    console.error(`history: database unavailable: ${errorMessage(e)}`);
    throw unavailable("The match records are unavailable right now; please retry shortly.");
  }
}

function unavailable(message: string): ApiError {
  return new ApiError(503, "database_unavailable", message, { headers: { "Retry-After": "5" } });
}

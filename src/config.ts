import { z } from "zod";
import { canonicalTopic } from "./protocol/values.ts";

/**
 * Every setting the service reads, parsed once from the Worker's env (or, in the start script,
 * from process.env). Both sides use this schema, so a key that `npm start` accepts is a key the
 * Worker understands, and a bad value is refused with a message naming the key.
 */

/** Used only when no JWT_SECRET is configured in local development; never in production. */
export const DEV_JWT_SECRET = "dev-only-secret-do-not-use-in-production-0123456789";

/** See REGISTRY_SHARDS below and docs/architecture.md for why this number. */
export const DEFAULT_REGISTRY_SHARDS = 4;

const seconds = (fallback: number, max: number) =>
  z
    .string()
    .trim()
    .regex(/^\d+$/, "must be a whole number of seconds")
    .transform(Number)
    .pipe(z.number().int().min(1).max(max))
    .optional()
    .transform((v) => v ?? fallback);

/** A whole number in [min, max], e.g. a rating window. */
const whole = (fallback: number, min: number, max: number) =>
  z
    .string()
    .trim()
    .regex(/^\d+$/, "must be a whole number")
    .transform(Number)
    .pipe(z.number().int().min(min).max(max))
    .optional()
    .transform((v) => v ?? fallback);

const flag = z
  .string()
  .trim()
  .optional()
  .transform((v) => v === "1" || v?.toLowerCase() === "true");

const optionalText = z
  .string()
  .trim()
  .optional()
  .transform((v) => (v ? v : undefined));

const optionalUrl = z
  .string()
  .trim()
  .optional()
  .transform((v) => (v ? v : undefined))
  .pipe(z.url({ protocol: /^https?$/ }).optional());

const list = z
  .string()
  .optional()
  .transform((v) =>
    (v ?? "")
      .split(",")
      .map((s) => s.trim())
      .filter(Boolean),
  );

const databaseUrl = z
  .string()
  .trim()
  .optional()
  .transform((v) => (v ? v : undefined))
  .refine((v) => v === undefined || isPostgresUrl(v), {
    message: "must be a postgres:// or postgresql:// URL with a host, e.g. postgres://user:pass@host:5432/db",
  });

function isPostgresUrl(value: string): boolean {
  try {
    const u = new URL(value);
    return (u.protocol === "postgres:" || u.protocol === "postgresql:") && u.hostname !== "";
  } catch {
    return false;
  }
}

export const configSchema = z
  .object({
    JWT_SECRET: z
      .string()
      .optional()
      .transform((v) => (v ? v : undefined))
      .refine((v) => v === undefined || new TextEncoder().encode(v).byteLength >= 32, {
        message: "must be at least 32 bytes long",
      }),
    JWKS_URL: optionalUrl,
    JWT_ISSUER: optionalText,
    JWT_AUDIENCE: optionalText,
    JWT_USER_CLAIM: optionalText.transform((v) => v ?? "sub"),
    MATCH_TIMEOUT_SECONDS: seconds(60, 3600),
    CONFIRM_TIMEOUT_SECONDS: seconds(20, 600),
    RECONNECT_GRACE_SECONDS: seconds(10, 600),
    /** Two users who were in a match together (confirmed, or declined) are not paired again for this long. */
    REMATCH_COOLDOWN_SECONDS: whole(600, 0, 7 * 86_400),
    /** The token claim naming the user's tenant; tokens without it belong to the default tenant. */
    JWT_TENANT_CLAIM: optionalText.transform((v) => v ?? "tenant_id"),
    /** The token claim that makes an admin when it says `admin` (`/internal/*`). */
    JWT_ADMIN_CLAIM: optionalText.transform((v) => v ?? "role"),
    /** Bearer token `GET /metrics` requires when set; open otherwise. */
    METRICS_TOKEN: optionalText,
    /** The numeric token claim that carries a user's rating; tokens without it are unrated. */
    JWT_RATING_CLAIM: optionalText.transform((v) => v ?? "rating"),
    RATING_WINDOW: whole(100, 0, 1_000_000),
    RATING_WIDEN_STEP: whole(25, 0, 1_000_000),
    RATING_WIDEN_SECONDS: seconds(10, 3600),
    /** A request asking to widen also waits in the neighbouring difficulties after this long. */
    WIDEN_AFTER_SECONDS: seconds(20, 3600),
    /** Canonical slugs, so requests compare with what they are routed by. */
    TOPICS: list.transform((topics) => topics.map(canonicalTopic)),
    CORS_ORIGINS: list,
    DATABASE_URL: databaseUrl,
    /** host:port of the WebSocket-to-TCP bridge used to reach a local Postgres (never Neon). */
    NEON_WS_PROXY: optionalText,
    QUESTION_SERVICE_URL: optionalUrl,
    /**
     * A comma list of http(s) URLs (one is fine); none when unset. Sessions are spread over them
     * round-robin and a failing one is skipped (src/orchestration/collabPool.ts).
     */
    COLLAB_SERVICE_URL: list.pipe(
      z.array(
        z.url({
          protocol: /^https?$/,
          error: (issue) => `must be a comma list of http(s) URLs; ${JSON.stringify(issue.input)} is not one`,
        }),
      ),
    ),
    /** A challenge not answered within this long expires (docs/protocol.md, "Challenges"). */
    CHALLENGE_TTL_SECONDS: seconds(120, 86_400),
    MAINTENANCE: flag,
    DEV_TOKENS: flag,
    VERSION: optionalText.transform((v) => v ?? "0.1.0"),
    /**
     * Shard objects keeping the one-live-request claims. Fixed for a deployment's life: a user's
     * shard is a hash of their id modulo this number, so changing it would lose live claims.
     */
    REGISTRY_SHARDS: z
      .string()
      .trim()
      .optional()
      .transform((v) => (v ? v : String(DEFAULT_REGISTRY_SHARDS)))
      .pipe(z.string().regex(/^\d+$/, "must be a whole number"))
      .transform(Number)
      .pipe(z.number().int().min(1).max(1024)),
    /**
     * Upgrading from per-user registry objects: until this time, a shard with no claim for a
     * user also looks in that user's old object, so no live claim is lost across the upgrade.
     */
    LEGACY_REGISTRY_UNTIL: z
      .string()
      .trim()
      .optional()
      .transform((v) => (v ? v : undefined))
      .pipe(
        z.iso
          .datetime({ offset: true, error: "must be an ISO-8601 time, e.g. 2026-12-01T12:00:00Z" })
          .optional(),
      )
      .transform((v) => (v === undefined ? 0 : Date.parse(v))),
  })
  .refine((c) => c.JWT_SECRET !== undefined || c.JWKS_URL !== undefined, {
    path: ["JWT_SECRET"],
    message: "is required (or set JWKS_URL); `npm start` supplies a development secret",
  });

export type Config = z.infer<typeof configSchema>;

export type ConfigProblem = { key: string; message: string };

export type ConfigResult = { ok: true; config: Config } | { ok: false; problems: ConfigProblem[] };

/** Parse raw string settings; never throws. */
export function parseConfig(raw: Record<string, unknown>): ConfigResult {
  const strings: Record<string, string | undefined> = {};
  for (const key of Object.keys(configSchema.shape)) {
    const value = raw[key];
    strings[key] = typeof value === "string" ? value : value === undefined ? undefined : String(value);
  }
  const parsed = configSchema.safeParse(strings);
  if (parsed.success) return { ok: true, config: parsed.data };
  return {
    ok: false,
    problems: parsed.error.issues.map((issue) => ({
      key: String(issue.path[0] ?? "config"),
      message: issue.message,
    })),
  };
}

/** One line per problem, each starting with the key, for logs and start-up errors. */
export function describeProblems(problems: ConfigProblem[]): string {
  return problems.map((p) => `${p.key} ${p.message}`).join("\n");
}

const parsedByEnv = new WeakMap<object, ConfigResult>();

/** Parse a Worker env once per isolate: the env object is stable for the isolate's life. */
export function configFromEnv(env: object): ConfigResult {
  let result = parsedByEnv.get(env);
  if (!result) {
    result = parseConfig(env as Record<string, unknown>);
    parsedByEnv.set(env, result);
  }
  return result;
}

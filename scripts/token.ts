import { parseArgs } from "node:util";
import { mintDevToken } from "../src/auth/devToken.ts";
import { DEV_JWT_SECRET, describeProblems, parseConfig } from "../src/config.ts";
import { tenantIdSchema } from "../src/tenancy.ts";

/**
 * `npm run token -- <userId> [--role admin | --admin] [--rating 1500] [--tenant acme] [--ttl 2h]`: a
 * development JWT the local Worker accepts, each claim under the name the Worker is configured to
 * read (JWT_USER_CLAIM, JWT_ADMIN_CLAIM, JWT_RATING_CLAIM, JWT_TENANT_CLAIM, JWT_ISSUER,
 * JWT_AUDIENCE). Only the token goes to stdout, so `TOKEN=$(npm run -s token -- alice)` works.
 */

export const USAGE = [
  "usage: npm run token -- <userId> [options]",
  "  --role <value>     admin makes an admin (the JWT_ADMIN_CLAIM claim, default `role`)",
  "  --admin            the same as --role admin (the dashboard at /admin, /internal/*)",
  "  --rating <number>  the user's rating (the JWT_RATING_CLAIM claim, default `rating`)",
  "  --tenant <id>      the user's tenant (the JWT_TENANT_CLAIM claim, default `tenant_id`)",
  "  --ttl <duration>   lifetime: 3600, 90s, 30m, 2h or 1d (default 1h)",
].join("\n");

export type TokenOrder = {
  userId: string;
  ttlSeconds: number;
  role: string | undefined;
  rating: number | undefined;
  tenant: string | undefined;
};

type ClaimNames = {
  JWT_USER_CLAIM: string;
  JWT_ADMIN_CLAIM: string;
  JWT_RATING_CLAIM: string;
  JWT_TENANT_CLAIM: string;
  JWT_ISSUER: string | undefined;
  JWT_AUDIENCE: string | undefined;
};

const UNIT_SECONDS: Record<string, number> = { "": 1, s: 1, m: 60, h: 3600, d: 86_400 };

/** `3600`, `90s`, `30m`, `2h`, `1d` in seconds; undefined for anything else. */
export function parseDuration(text: string): number | undefined {
  const match = /^(\d+)([smhd]?)$/.exec(text.trim());
  if (!match) return undefined;
  const seconds = Number(match[1]) * (UNIT_SECONDS[match[2] ?? ""] ?? 1);
  return seconds > 0 ? seconds : undefined;
}

const OPTIONS = {
  ttl: { type: "string" },
  role: { type: "string" },
  rating: { type: "string" },
  tenant: { type: "string" },
  admin: { type: "boolean", default: false },
} as const;

function readArgs(args: string[]) {
  return parseArgs({ args, options: OPTIONS, allowPositionals: true, strict: true });
}

/** What the command line asks for, or a message saying what is wrong with it. */
export function parseCommandLine(
  args: string[],
): { ok: true; order: TokenOrder } | { ok: false; message: string } {
  let parsed: ReturnType<typeof readArgs>;
  try {
    parsed = readArgs(args);
  } catch (error) {
    return { ok: false, message: error instanceof Error ? error.message : String(error) };
  }
  const { values, positionals } = parsed;
  const userId = positionals[0]?.trim();
  if (positionals.length !== 1 || !userId) return { ok: false, message: "expected exactly one userId" };
  const ttlSeconds = parseDuration(values.ttl ?? "1h");
  if (ttlSeconds === undefined)
    return {
      ok: false,
      message: `--ttl must be a positive duration like 3600, 30m or 2h, got "${values.ttl}"`,
    };
  let rating: number | undefined;
  if (values.rating !== undefined) {
    rating = Number(values.rating);
    if (values.rating.trim() === "" || !Number.isFinite(rating))
      return { ok: false, message: `--rating must be a number, got "${values.rating}"` };
  }
  if (values.tenant !== undefined && !tenantIdSchema.safeParse(values.tenant).success)
    return { ok: false, message: `--tenant must be 1-64 of A-Z a-z 0-9 _ -, got "${values.tenant}"` };
  if (values.role !== undefined && values.role.trim() === "")
    return { ok: false, message: "--role must not be empty" };
  if (values.admin && values.role !== undefined && values.role !== "admin")
    return { ok: false, message: `--admin and --role ${values.role} ask for two roles` };
  const role = values.admin ? "admin" : values.role;
  return { ok: true, order: { userId, ttlSeconds, role, rating, tenant: values.tenant } };
}

/** The token's claims besides `sub`, `iat` and `exp`, each under its configured name. */
export function claimsFor(order: TokenOrder, names: ClaimNames): Record<string, unknown> {
  const claims: Record<string, unknown> = {};
  if (names.JWT_ISSUER) claims.iss = names.JWT_ISSUER;
  if (names.JWT_AUDIENCE) claims.aud = names.JWT_AUDIENCE;
  if (names.JWT_USER_CLAIM !== "sub") claims[names.JWT_USER_CLAIM] = order.userId;
  if (order.role !== undefined) claims[names.JWT_ADMIN_CLAIM] = order.role;
  if (order.rating !== undefined) claims[names.JWT_RATING_CLAIM] = order.rating;
  if (order.tenant !== undefined) claims[names.JWT_TENANT_CLAIM] = order.tenant;
  return claims;
}

async function main(): Promise<number> {
  const parsed = parseCommandLine(process.argv.slice(2));
  if (!parsed.ok) {
    console.error(`${parsed.message}\n${USAGE}`);
    return 2;
  }
  // Only the settings that shape a token are read, so unrelated bad settings don't block minting.
  const env = process.env;
  const result = parseConfig({
    JWT_SECRET: env.JWT_SECRET || DEV_JWT_SECRET,
    JWT_ISSUER: env.JWT_ISSUER,
    JWT_AUDIENCE: env.JWT_AUDIENCE,
    JWT_USER_CLAIM: env.JWT_USER_CLAIM,
    JWT_ADMIN_CLAIM: env.JWT_ADMIN_CLAIM,
    JWT_RATING_CLAIM: env.JWT_RATING_CLAIM,
    JWT_TENANT_CLAIM: env.JWT_TENANT_CLAIM,
  });
  if (!result.ok) {
    console.error(`Refusing to mint a token:\n${describeProblems(result.problems)}`);
    return 1;
  }
  const { config } = result;
  if (config.JWT_SECRET === undefined) throw new Error("unreachable: a secret was always supplied");
  if (!env.JWT_SECRET)
    console.error("(signed with the development secret; set JWT_SECRET to match your Worker)");
  const { order } = parsed;
  const claims = claimsFor(order, config);
  console.log(await mintDevToken(config.JWT_SECRET, order.userId, { ttlSeconds: order.ttlSeconds, claims }));
  return 0;
}

if (import.meta.main) {
  main().then(
    (code) => process.exit(code),
    (error: unknown) => {
      console.error(error instanceof Error ? error.message : String(error));
      process.exit(1);
    },
  );
}

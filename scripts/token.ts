import { parseArgs } from "node:util";
import { mintDevToken } from "../src/auth/devToken.ts";
import { DEV_JWT_SECRET, describeProblems, parseConfig } from "../src/config.ts";

/**
 * `npm run token -- <userId> [--ttl seconds] [--admin]`: a development JWT the local Worker
 * accepts; `--admin` makes it an admin's (the dashboard at `/admin`, `/internal/*`).
 * Only the token goes to stdout, so `TOKEN=$(npm run -s token -- alice)` works.
 */

const USAGE = "usage: npm run token -- <userId> [--ttl seconds] [--admin]   (default ttl 3600)";

async function main(): Promise<number> {
  let parsed: ReturnType<typeof parseCommandLine>;
  try {
    parsed = parseCommandLine(process.argv.slice(2));
  } catch (error) {
    console.error(`${error instanceof Error ? error.message : String(error)}\n${USAGE}`);
    return 2;
  }
  const { userId, ttlSeconds, admin } = parsed;
  if (userId === undefined || ttlSeconds === undefined) {
    console.error(USAGE);
    return 2;
  }

  // Only the settings that shape a token are read, so unrelated bad settings don't block minting.
  const result = parseConfig({
    JWT_SECRET: process.env.JWT_SECRET || DEV_JWT_SECRET,
    JWT_ISSUER: process.env.JWT_ISSUER,
    JWT_AUDIENCE: process.env.JWT_AUDIENCE,
    JWT_USER_CLAIM: process.env.JWT_USER_CLAIM,
    JWT_ADMIN_CLAIM: process.env.JWT_ADMIN_CLAIM,
  });
  if (!result.ok) {
    console.error(`Refusing to mint a token:\n${describeProblems(result.problems)}`);
    return 1;
  }
  const {
    JWT_SECRET: secret,
    JWT_ISSUER: issuer,
    JWT_AUDIENCE: audience,
    JWT_USER_CLAIM: userClaim,
    JWT_ADMIN_CLAIM: adminClaim,
  } = result.config;
  if (secret === undefined) throw new Error("unreachable: a secret was always supplied");

  // The Worker checks iss/aud when they are configured and reads the user from JWT_USER_CLAIM.
  const claims: Record<string, unknown> = {};
  if (issuer) claims.iss = issuer;
  if (audience) claims.aud = audience;
  if (userClaim !== "sub") claims[userClaim] = userId;
  if (admin) claims[adminClaim] = "admin";

  if (!process.env.JWT_SECRET)
    console.error("(signed with the development secret; set JWT_SECRET to match your Worker)");
  console.log(await mintDevToken(secret, userId, { ttlSeconds, claims }));
  return 0;
}

function parseCommandLine(args: string[]): {
  userId: string | undefined;
  ttlSeconds: number | undefined;
  admin: boolean;
} {
  const { values, positionals } = parseArgs({
    args,
    options: { ttl: { type: "string" }, admin: { type: "boolean", default: false } },
    allowPositionals: true,
    strict: true,
  });
  const ttlText = values.ttl ?? "3600";
  const ttlSeconds = /^\d+$/.test(ttlText) && Number(ttlText) > 0 ? Number(ttlText) : undefined;
  if (ttlSeconds === undefined)
    throw new Error(`--ttl must be a positive whole number of seconds, got "${ttlText}"`);
  if (positionals.length > 1) throw new Error("expected exactly one userId");
  const userId = positionals[0]?.trim() || undefined;
  return { userId, ttlSeconds, admin: values.admin === true };
}

main().then(
  (code) => process.exit(code),
  (error: unknown) => {
    console.error(error instanceof Error ? error.message : String(error));
    process.exit(1);
  },
);

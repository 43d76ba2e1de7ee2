import { createRemoteJWKSet, errors, type JWTPayload, jwtVerify } from "jose";
import type { Config } from "../config.ts";
import { DEFAULT_TENANT, tenantIdSchema } from "../tenancy.ts";

/**
 * Who a verified token names: the user inside their tenant, when the token expires, their rating
 * if it has one, and whether it is an admin's.
 */
export type Identity = {
  tenant: string;
  userId: string;
  expiresAt: number;
  rating: number | null;
  admin: boolean;
};

export class TokenError extends Error {}

const ASYMMETRIC = ["RS256", "ES256", "EdDSA"];

/**
 * Remote key sets, one per URL for the isolate's life: jose caches the keys inside and refetches
 * on an unknown `kid` (key rotation) with a cooldown, so a burst of new tokens costs one fetch.
 */
const keySets = new Map<string, ReturnType<typeof createRemoteJWKSet>>();

function keySetFor(url: string) {
  let set = keySets.get(url);
  if (!set) {
    set = createRemoteJWKSet(new URL(url), { timeoutDuration: 5_000, cooldownDuration: 30_000 });
    keySets.set(url, set);
  }
  return set;
}

/** The HS256 key, imported once per secret rather than on every verification. */
const hmacKeys = new Map<string, Promise<CryptoKey>>();

function hmacKeyFor(secret: string): Promise<CryptoKey> {
  let key = hmacKeys.get(secret);
  if (!key) {
    key = crypto.subtle.importKey(
      "raw",
      new TextEncoder().encode(secret),
      { name: "HMAC", hash: "SHA-256" },
      false,
      ["verify"],
    );
    hmacKeys.set(secret, key);
  }
  return key;
}

/**
 * Verify a bearer token and name its user. Algorithms are pinned per key type: HS256 only with
 * JWT_SECRET, asymmetric algorithms only with the JWKS, so `alg: none` and algorithm confusion
 * (an HMAC signed with a public key) have no key to verify against. The key is chosen from the
 * header jose has already parsed, so a token is decoded once.
 */
export async function verifyToken(token: string, config: Config): Promise<Identity> {
  const algorithms = [...(config.JWT_SECRET ? ["HS256"] : []), ...(config.JWKS_URL ? ASYMMETRIC : [])];
  const secret = config.JWT_SECRET;
  const jwks = config.JWKS_URL ? keySetFor(config.JWKS_URL) : undefined;
  let payload: JWTPayload;
  try {
    ({ payload } = await jwtVerify(
      token,
      (header, jws) => {
        if (header.alg === "HS256" && secret) return hmacKeyFor(secret);
        if (header.alg && ASYMMETRIC.includes(header.alg) && jwks) return jwks(header, jws);
        throw new TokenError(`Tokens signed with ${header.alg ?? "no algorithm"} are not accepted here.`);
      },
      {
        issuer: config.JWT_ISSUER,
        audience: config.JWT_AUDIENCE,
        clockTolerance: 30,
        requiredClaims: ["exp"],
        algorithms,
      },
    ));
  } catch (e) {
    throw e instanceof TokenError ? e : new TokenError(describeJoseError(e));
  }
  const claim = payload[config.JWT_USER_CLAIM];
  const userId = typeof claim === "number" ? String(claim) : claim;
  if (typeof userId !== "string" || userId.length === 0 || userId.length > 128) {
    throw new TokenError(`The token has no usable \`${config.JWT_USER_CLAIM}\` claim (1-128 characters).`);
  }
  const rating = payload[config.JWT_RATING_CLAIM];
  // A rating that is there but not a number is a token problem, not "unrated": pairing on a
  // guess would put the user in the wrong window without anyone noticing.
  if (rating !== undefined && rating !== null && (typeof rating !== "number" || !Number.isFinite(rating))) {
    throw new TokenError(`The token's \`${config.JWT_RATING_CLAIM}\` claim must be a number (a rating).`);
  }
  // An integer id (as many issuers write one) is the tenant of that decimal name, as for users.
  const tenantClaim = payload[config.JWT_TENANT_CLAIM] ?? DEFAULT_TENANT;
  const tenant = Number.isSafeInteger(tenantClaim) ? String(tenantClaim) : tenantClaim;
  if (!tenantIdSchema.safeParse(tenant).success) {
    throw new TokenError(
      `The token's \`${config.JWT_TENANT_CLAIM}\` claim must be 1-64 letters, digits, \`-\` or \`_\` (or an integer).`,
    );
  }
  return {
    tenant: tenant as string,
    userId,
    expiresAt: (payload.exp ?? 0) * 1000,
    rating: typeof rating === "number" ? rating : null,
    admin: payload[config.JWT_ADMIN_CLAIM] === "admin",
  };
}

function describeJoseError(e: unknown): string {
  if (e instanceof errors.JWTExpired) return "The token has expired; sign in again.";
  if (e instanceof errors.JWSInvalid || e instanceof errors.JWTInvalid)
    return "The token is not a well-formed JWT.";
  if (e instanceof errors.JWTClaimValidationFailed) {
    if (e.claim === "nbf") return "The token is not valid yet.";
    if (e.claim === "exp") return "The token has no `exp` claim; tokens must expire.";
    return `The token's \`${e.claim}\` claim is not accepted.`;
  }
  if (e instanceof errors.JWSSignatureVerificationFailed) return "The token's signature does not verify.";
  if (e instanceof errors.JOSEAlgNotAllowed) return "The token's algorithm is not accepted here.";
  if (e instanceof errors.JWKSNoMatchingKey) return "No key in the key set matches the token.";
  return "The token could not be verified.";
}

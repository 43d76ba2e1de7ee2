import { SignJWT } from "jose";

/**
 * Mint an HS256 token for local development, tests and the benchmark. Production tokens come
 * from the identity provider; this only exists so a fresh checkout can talk to itself.
 */
export async function mintDevToken(
  secret: string,
  userId: string,
  { ttlSeconds = 3600, claims = {} }: { ttlSeconds?: number; claims?: Record<string, unknown> } = {},
): Promise<string> {
  const now = Math.floor(Date.now() / 1000);
  return new SignJWT({ ...claims })
    .setProtectedHeader({ alg: "HS256", typ: "JWT" })
    .setSubject(userId)
    .setIssuedAt(now)
    .setExpirationTime(now + ttlSeconds)
    .sign(new TextEncoder().encode(secret));
}

import { z } from "zod";
import { type Bucket, parseRoomName, roomName } from "./protocol/values.ts";

/**
 * Tenants (docs/operations.md, "Tenants"): a user is the pair (tenant, user id), and every object a user
 * reaches is named inside their tenant, so two tenants never share a bucket, a registry shard,
 * a block list or a record. The default tenant (tokens without the claim) keeps the names the
 * service used before tenants existed, so a deployment upgraded to this version loses nothing.
 */
export const DEFAULT_TENANT = "default";

/** Letters, digits, `-` and `_`: never the separator below, never anything a URL must escape. */
export const tenantIdSchema = z.string().regex(/^[A-Za-z0-9_-]{1,64}$/);

const SEPARATOR = "~";

/** The name of the tenant's object called `base` (a room, a registry shard). */
export function inTenant(tenant: string, base: string): string {
  return tenant === DEFAULT_TENANT ? base : `${tenant}${SEPARATOR}${base}`;
}

/** Split an object name made by `inTenant`. */
export function splitTenant(name: string): { tenant: string; base: string } {
  const at = name.indexOf(SEPARATOR);
  return at < 0
    ? { tenant: DEFAULT_TENANT, base: name }
    : { tenant: name.slice(0, at), base: name.slice(at + 1) };
}

/** A bucket actor's name: its tenant and its canonical room. */
export function bucketActorName(tenant: string, bucket: Bucket): string {
  return inTenant(tenant, roomName(bucket));
}

/** The tenant and bucket of a bucket actor's name, if it is one `bucketActorName` makes. */
export function parseBucketActorName(name: string): { tenant: string; bucket: Bucket } | undefined {
  const { tenant, base } = splitTenant(name);
  const bucket = parseRoomName(base);
  if (!bucket || !tenantIdSchema.safeParse(tenant).success || bucketActorName(tenant, bucket) !== name) {
    return undefined;
  }
  return { tenant, bucket };
}

/** Where a user's own object's name starts (after the tenant): never a room, which has a difficulty. */
const USER_PREFIX = "user:";

/** The name of the user's own object (`UserActor`: their channel and the challenges they receive). */
export function userActorName(tenant: string, userId: string): string {
  return inTenant(tenant, `${USER_PREFIX}${userId}`);
}

/** The tenant and user of a name `userActorName` made, if it is one. */
export function parseUserActorName(name: string): { tenant: string; userId: string } | undefined {
  // A default-tenant name has no tenant part, and its user id may itself contain the separator.
  const { tenant, base } = name.startsWith(USER_PREFIX)
    ? { tenant: DEFAULT_TENANT, base: name }
    : splitTenant(name);
  if (!base.startsWith(USER_PREFIX) || !tenantIdSchema.safeParse(tenant).success) return undefined;
  const userId = base.slice(USER_PREFIX.length);
  return userId && userActorName(tenant, userId) === name ? { tenant, userId } : undefined;
}

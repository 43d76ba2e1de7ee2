import type { BucketActor } from "./bucket/BucketActor.ts";
import type { UserActor } from "./challenges/UserActor.ts";
import type { Directory } from "./operations/Directory.ts";
import type { RegistryShard } from "./registry/RegistryShard.ts";
import type { UserRegistry } from "./registry/UserRegistry.ts";

/** Bindings from wrangler.toml plus every setting, all strings as Workers deliver them. */
export interface Env {
  Bucket: DurableObjectNamespace<BucketActor>;
  /** The one-live-request registry, sharded by user (REGISTRY_SHARDS objects). */
  Registry: DurableObjectNamespace<RegistryShard>;
  /** Per-user registry objects of earlier versions, read only while upgrading. */
  LegacyRegistry: DurableObjectNamespace<UserRegistry>;
  /** The operators' view of the service, fed by the buckets' reports. */
  Directory: DurableObjectNamespace<Directory>;
  /** One per user: their own channel and the challenges they receive (and an index of those sent). */
  User: DurableObjectNamespace<UserActor>;
  JWT_SECRET?: string;
  JWKS_URL?: string;
  JWT_ISSUER?: string;
  JWT_AUDIENCE?: string;
  JWT_USER_CLAIM?: string;
  MATCH_TIMEOUT_SECONDS?: string;
  CONFIRM_TIMEOUT_SECONDS?: string;
  RECONNECT_GRACE_SECONDS?: string;
  REMATCH_COOLDOWN_SECONDS?: string;
  JWT_RATING_CLAIM?: string;
  JWT_TENANT_CLAIM?: string;
  JWT_ADMIN_CLAIM?: string;
  METRICS_TOKEN?: string;
  RATING_WINDOW?: string;
  RATING_WIDEN_STEP?: string;
  RATING_WIDEN_SECONDS?: string;
  TOPICS?: string;
  CORS_ORIGINS?: string;
  DATABASE_URL?: string;
  NEON_WS_PROXY?: string;
  QUESTION_SERVICE_URL?: string;
  COLLAB_SERVICE_URL?: string;
  MAINTENANCE?: string;
  DEV_TOKENS?: string;
  VERSION?: string;
  REGISTRY_SHARDS?: string;
  LEGACY_REGISTRY_UNTIL?: string;
  CHALLENGE_TTL_SECONDS?: string;
}

import type { Identity } from "../auth/verifyToken.ts";
import type { Config } from "../config.ts";
import type { Env } from "../env.ts";

/** Hono's typing for this Worker: bindings, plus what middleware puts on the context. */
export type AppEnv = { Bindings: Env; Variables: { config: Config; identity: Identity } };

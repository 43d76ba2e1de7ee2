import type { Config } from "../config.ts";
import type { Settings } from "../matching/types.ts";

/** The matching core's settings, from the deployment's configuration. */
export function pairingSettings(c: Config): Settings {
  return {
    queueTimeoutMs: c.MATCH_TIMEOUT_SECONDS * 1000,
    confirmTimeoutMs: c.CONFIRM_TIMEOUT_SECONDS * 1000,
    reconnectGraceMs: c.RECONNECT_GRACE_SECONDS * 1000,
    orchestrate: c.QUESTION_SERVICE_URL !== undefined || c.COLLAB_SERVICE_URL.length > 0,
    rematchCooldownMs: c.REMATCH_COOLDOWN_SECONDS * 1000,
    ratingWindow: c.RATING_WINDOW,
    ratingWidenStep: c.RATING_WIDEN_STEP,
    ratingWidenMs: c.RATING_WIDEN_SECONDS * 1000,
    widenAfterMs: c.WIDEN_AFTER_SECONDS * 1000,
  };
}

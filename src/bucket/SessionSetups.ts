import type { Config } from "../config.ts";
import { errorMessage } from "../errorMessage.ts";
import type { Match } from "../matching/types.ts";
import { type CollabPool, collabPoolFor } from "../orchestration/collabPool.ts";
import { type SessionIds, setUpSession } from "../orchestration/setUpSession.ts";
import type { Bucket } from "../protocol/values.ts";

/** Longer than a whole setUpSession (attempts x timeout + backoff), so a live one is never doubled. */
const SETUP_WATCHDOG_MS = 30_000;

/** The services a deployment's actors ask on confirm; the collaboration pool is one per `owner`. */
export type SessionServices = {
  questionServiceUrl: string | undefined;
  collabServiceUrl: CollabPool | undefined;
};

export function sessionServices(owner: object, config: Config): SessionServices {
  return {
    questionServiceUrl: config.QUESTION_SERVICE_URL,
    collabServiceUrl: collabPoolFor(owner, config.COLLAB_SERVICE_URL),
  };
}

export type SetupAnswer = { ok: true; ids: SessionIds } | { ok: false };

/**
 * An actor's session setups (a bucket's, or a user's own object's for challenge matches): for each match both sides confirmed, ask the question and
 * collaboration services (setUpSession's timeouts and retries bound each ask) and hand the
 * answer back. A setup whose answer a restart lost has no deadline of its own, so while any
 * match is being set up the bucket wakes at `checkAt` and `resume` asks again for the ones this
 * instance is not waiting on; the services get the same idempotency keys, so they create one
 * session, not two.
 */
export class SessionSetups {
  readonly #services: SessionServices;
  readonly #tenant: string;
  /** The match's bucket: the one bucket's, or each challenge match's own. */
  readonly #bucketOf: (match: Match) => Bucket;
  readonly #answered: (matchId: string, answer: SetupAnswer) => void;
  /** Matches whose setup this instance is waiting on; a new instance starts with none. */
  readonly #inFlight = new Set<string>();
  #checkAt: number | null = null;

  constructor(
    services: SessionServices,
    tenant: string,
    bucket: Bucket | ((match: Match) => Bucket),
    answered: (matchId: string, answer: SetupAnswer) => void,
  ) {
    this.#services = services;
    this.#tenant = tenant;
    this.#bucketOf = typeof bucket === "function" ? bucket : () => bucket;
    this.#answered = answered;
  }

  /** When the bucket must wake to re-ask for lost setups; null while none is under way. */
  get checkAt(): number | null {
    return this.#checkAt;
  }

  /** Ask again for setups this instance is not waiting on, and keep the watchdog while any remain. */
  resume(matches: Iterable<Match>): void {
    let pending = false;
    for (const m of matches) {
      if (!m.settingUp) continue;
      pending = true;
      if (!this.#inFlight.has(m.id)) this.start(m);
    }
    this.#checkAt = pending ? Date.now() + SETUP_WATCHDOG_MS : null;
  }

  start(match: Match): void {
    this.#inFlight.add(match.id);
    this.#checkAt ??= Date.now() + SETUP_WATCHDOG_MS;
    const { difficulty, topic } = this.#bucketOf(match);
    setUpSession(this.#services, {
      difficulty,
      topic,
      users: match.users,
      tenant: this.#tenant,
      matchId: match.id,
    }).then(
      (ids) => {
        this.#inFlight.delete(match.id);
        this.#answered(match.id, { ok: true, ids });
      },
      (e) => {
        this.#inFlight.delete(match.id);
        console.warn(`session setup failed for ${match.id}: ${errorMessage(e)}`);
        this.#answered(match.id, { ok: false });
      },
    );
  }
}

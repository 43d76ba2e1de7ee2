import { errorMessage } from "../errorMessage.ts";
import type { AskAnswer } from "../matching/handover.ts";
import type { HandOverAnswer } from "../matching/peerMessages.ts";

export type Ask = { home: string; requestId: string; pairId: string };

const FIRST_BACKOFF_MS = 100;
const MAX_BACKOFF_MS = 5_000;

/**
 * A bucket's hand-over asks (`handover.ts`): ask a guest's home for it, and hand the answer back
 * to be decided. An ask that fails is asked again (the home answers the same ask the same way);
 * a restarted bucket asks again for every pair it still holds, since answers die with the
 * instance that waited for them.
 */
export class HandOverAsks {
  readonly #ask: (ask: Ask) => Promise<HandOverAnswer>;
  readonly #answered: (pairId: string, answers: AskAnswer[]) => void;
  readonly #inFlight = new Set<string>();

  constructor(
    ask: (ask: Ask) => Promise<HandOverAnswer>,
    answered: (pairId: string, answers: AskAnswer[]) => void,
  ) {
    this.#ask = ask;
    this.#answered = answered;
  }

  start(asks: Ask[]): void {
    for (const a of asks) {
      const key = `${a.pairId} ${a.requestId}`;
      if (this.#inFlight.has(key)) continue;
      this.#inFlight.add(key);
      void this.#persist(a)
        .then((answer) => {
          this.#inFlight.delete(key);
          this.#answered(a.pairId, [{ home: a.home, requestId: a.requestId, answer }]);
        })
        .catch((e) => {
          this.#inFlight.delete(key);
          console.error(`hand-over answer for ${a.pairId} could not be applied: ${errorMessage(e)}`);
        });
    }
  }

  async #persist(a: Ask): Promise<HandOverAnswer> {
    for (let attempt = 0; ; attempt++) {
      try {
        return await this.#ask(a);
      } catch (e) {
        const wait = Math.min(MAX_BACKOFF_MS, FIRST_BACKOFF_MS * 2 ** attempt);
        console.warn(`hand-over ask to ${a.home} failed (${attempt + 1}x): ${errorMessage(e)}`);
        await new Promise((resolve) => setTimeout(resolve, wait));
      }
    }
  }
}

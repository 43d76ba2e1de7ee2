import { errorMessage } from "../errorMessage.ts";
import type { AskAnswer } from "../matching/handover.ts";
import type { HandOverAnswer } from "../matching/peerMessages.ts";

export type Ask = { home: string; requestId: string; pairId: string };

const FIRST_BACKOFF_MS = 100;
const MAX_BACKOFF_MS = 5_000;

/**
 * A bucket's hand-over asks (`handover.ts`): for a pair it holds, ask each guest's home, and
 * once every ask has an answer, hand them all back to be decided together. An ask that fails is
 * asked again (the home answers the same ask the same way); a restarted bucket asks again for
 * every pair it still holds, since answers die with the instance that waited for them.
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
    const byPair = new Map<string, Ask[]>();
    for (const a of asks) (byPair.get(a.pairId) ?? byPair.set(a.pairId, []).get(a.pairId)!).push(a);
    for (const [pairId, list] of byPair) {
      if (this.#inFlight.has(pairId)) continue;
      this.#inFlight.add(pairId);
      void Promise.all(list.map(async (a) => ({ ...a, answer: await this.#persist(a) })))
        .then((answers) => this.#answered(pairId, answers))
        .finally(() => this.#inFlight.delete(pairId));
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

import { directory } from "../actors.ts";
import type { Env } from "../env.ts";
import { errorMessage } from "../errorMessage.ts";
import type { Tally } from "../matching/step.ts";
import {
  type BucketReport,
  type Counts,
  countTallies,
  mergeCounts,
  noCounts,
} from "../operations/figures.ts";
import { withTimeout } from "../withTimeout.ts";

/** A bucket's live figures at the moment a report leaves. */
export type LiveFigures = Omit<BucketReport, "tenant" | "room" | "counts">;

/** Reports wait this long after a change, so a burst is one report, not one per join. */
const DEBOUNCE_MS = 1_000;
/** After a failed report, wait longer before trying again (the directory may be restarting). */
const RETRY_MS = 5_000;
/**
 * A report that has not answered by then counts as failed, so a hung call cannot stop this
 * bucket's reports for good; its counts go again with the next (at worst counted twice).
 */
const REPORT_TIMEOUT_MS = 10_000;

/**
 * A bucket's side of the directory: counts what its steps tallied and, a second after a change,
 * sends one report with those counts and its live figures as they are then. One report in
 * flight at a time; counts that fail to go are kept for the next. Off every path a user waits
 * on: a timer, not an await. Counts still waiting here when the bucket is evicted are lost,
 * which undercounts `/metrics` by at most a second of that bucket's activity.
 */
export class FigureReporter {
  readonly #env: Env;
  readonly #tenant: string;
  readonly #room: string;
  readonly #figures: () => LiveFigures;
  #counts: Counts = noCounts();
  #timer: ReturnType<typeof setTimeout> | undefined;
  #sending = false;
  #dirty = false;

  constructor(env: Env, tenant: string, room: string, figures: () => LiveFigures) {
    this.#env = env;
    this.#tenant = tenant;
    this.#room = room;
    this.#figures = figures;
  }

  /** Something changed (tallies, or only the live figures): report it soon. */
  changed(tallies: readonly Tally[]): void {
    countTallies(this.#counts, tallies);
    this.#dirty = true;
    this.#schedule(DEBOUNCE_MS);
  }

  #schedule(ms: number): void {
    if (this.#timer !== undefined || this.#sending) return;
    this.#timer = setTimeout(() => {
      this.#timer = undefined;
      void this.#send();
    }, ms);
  }

  async #send(): Promise<void> {
    if (!this.#dirty) return;
    const counts = this.#counts;
    this.#counts = noCounts();
    this.#dirty = false;
    this.#sending = true;
    let retry = false;
    try {
      await withTimeout(
        directory(this.#env).report({ tenant: this.#tenant, room: this.#room, ...this.#figures(), counts }),
        REPORT_TIMEOUT_MS,
        () => new Error(`no answer from the directory within ${REPORT_TIMEOUT_MS} ms`),
      );
    } catch (e) {
      console.warn(`figures report from ${this.#room} failed: ${errorMessage(e)}`);
      mergeCounts(this.#counts, counts);
      this.#dirty = true;
      retry = true;
    } finally {
      this.#sending = false;
    }
    // Changes made while this report was out (or its counts, put back) go with the next.
    if (this.#dirty) this.#schedule(retry ? RETRY_MS : DEBOUNCE_MS);
  }
}

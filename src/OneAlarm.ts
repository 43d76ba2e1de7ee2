/**
 * A Durable Object's one alarm, kept no later than the earliest of its owner's deadlines.
 * Every `setAlarm` or `deleteAlarm` is a row written, so the alarm only ever moves earlier: a
 * deadline that moved later (the earliest waiter paired, the last request ended) leaves the
 * alarm where it is, and the owner, woken early with nothing due, aims again from there. An
 * early wake is a request (a seventh of a row's price) and happens at most once per alarm
 * left behind, where each later move would have been a row.
 */
export class OneAlarm {
  readonly #storage: DurableObjectStorage;
  /** The alarm as set in storage (null: none). */
  #at: number | null = null;

  constructor(storage: DurableObjectStorage) {
    this.#storage = storage;
  }

  /** At start-up (inside blockConcurrencyWhile): the alarm an earlier instance left. */
  async load(): Promise<void> {
    this.#at = await this.#storage.getAlarm();
  }

  /** The alarm ran: none is set any more. */
  fired(): void {
    this.#at = null;
  }

  /** Have the alarm ring no later than the earliest of `times` (null: nothing to wake for). */
  aim(times: ReadonlyArray<number | null>): void {
    let next: number | null = null;
    for (const t of times) if (t !== null && (next === null || t < next)) next = t;
    if (next === null || (this.#at !== null && this.#at <= next)) return;
    this.#at = next;
    void this.#storage.setAlarm(next);
  }
}

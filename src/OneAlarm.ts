/**
 * A Durable Object's one alarm, kept at the earliest of its owner's deadlines. The time last
 * asked for is remembered, so an unchanged deadline costs no storage call.
 */
export class OneAlarm {
  readonly #storage: DurableObjectStorage;
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

  /** Set the alarm to the earliest of `times` (null: nothing to wake for). */
  aim(times: ReadonlyArray<number | null>): void {
    let next: number | null = null;
    for (const t of times) if (t !== null && (next === null || t < next)) next = t;
    if (next === this.#at) return;
    this.#at = next;
    if (next === null) void this.#storage.deleteAlarm();
    else void this.#storage.setAlarm(next);
  }
}

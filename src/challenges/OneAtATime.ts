/**
 * One action per challenge at a time, inside its owner. An action that must wait on other
 * objects (accepting claims both users) holds the challenge; others `idle` until it is decided
 * and then see what it decided, and the expiry alarm leaves held ones alone (`held`).
 */
export class OneAtATime {
  readonly #busy = new Map<string, Promise<void>>();

  /** Ids held right now. */
  held(): ReadonlySet<string> {
    return new Set(this.#busy.keys());
  }

  get any(): boolean {
    return this.#busy.size > 0;
  }

  /** Wait until no action holds `id`. */
  async idle(id: string): Promise<void> {
    for (let held = this.#busy.get(id); held; held = this.#busy.get(id)) await held;
  }

  /** Run `work` holding `id`; `after` runs once it is let go (success or not). */
  async hold<T>(id: string, work: () => Promise<T>, after: () => void): Promise<T> {
    let release = () => {};
    this.#busy.set(id, new Promise<void>((r) => (release = r)));
    try {
      return await work();
    } finally {
      this.#busy.delete(id);
      release();
      after();
    }
  }
}

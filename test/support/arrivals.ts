/**
 * Waiting for something a stream delivers (a frame, an event, a close), with a timeout: the
 * reader calls `arrived()` whenever anything comes, and `until` checks again each time.
 */
export class Arrivals {
  #waiters: Array<() => void> = [];

  arrived(): void {
    for (const w of this.#waiters.splice(0)) w();
  }

  /** The first defined value of `check`; on timeout an error naming `what` and what came instead. */
  async until<T>(
    check: () => T | undefined,
    what: string,
    timeoutMs: number,
    got: () => unknown,
  ): Promise<T> {
    // performance.now, not Date.now: tests fake Date to move the actors' clock.
    const deadline = performance.now() + timeoutMs;
    for (;;) {
      const value = check();
      if (value !== undefined) return value;
      const left = deadline - performance.now();
      if (left <= 0) throw new Error(`timed out waiting for ${what}; got ${JSON.stringify(got())}`);
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, left);
        this.#waiters.push(() => {
          clearTimeout(t);
          resolve();
        });
      });
    }
  }
}

/** Typed listeners by event name, shared by the SDK's clients; a throwing listener never stops the others. */
export class Emitter<Events extends object> {
  readonly #name: string;
  readonly #listeners = new Map<keyof Events, Set<(event: never) => void>>();

  /** `name` prefixes the log line of a listener that throws. */
  constructor(name: string) {
    this.#name = name;
  }

  /** Listen for an event; returns a function that removes the listener. */
  on<K extends keyof Events>(type: K, listener: (event: Events[K]) => void): () => void {
    let set = this.#listeners.get(type);
    if (!set) {
      set = new Set();
      this.#listeners.set(type, set);
    }
    const stored = listener as (event: never) => void;
    set.add(stored);
    return () => set.delete(stored);
  }

  emit<K extends keyof Events>(type: K, event: Events[K]): void {
    for (const listener of this.#listeners.get(type) ?? []) {
      try {
        (listener as (event: Events[K]) => void)(event);
      } catch (error) {
        console.error(`${this.#name}: a "${String(type)}" listener threw`, error);
      }
    }
  }
}

/**
 * Every timed rule of a bucket (queue timeouts, confirm windows, reconnect graces, and the
 * moments two waiting requests become compatible) as one lazy
 * min-heap, so the actor needs exactly one alarm: the top of this heap. Entries are never
 * removed when a deadline moves or stops mattering; the owner checks each popped entry against
 * current state and drops stale ones. Push and pop are O(log n).
 */
export type DeadlineKind = "queue" | "confirm" | "grace" | "widen" | "recheck";

export interface Deadline {
  at: number;
  kind: DeadlineKind;
  id: string;
}

/**
 * Deadlines due at the same instant are applied in one fixed order that depends only on the
 * entries, never on push order (which differs after `restoreBucketState`): queue timeouts first
 * (a request whose time is up is never paired at that instant), then confirm windows, then
 * reconnect graces, then widenings, then rechecks (pairing last, once everything due has left), then by id.
 */
const KIND_ORDER: Record<DeadlineKind, number> = { queue: 0, confirm: 1, grace: 2, widen: 3, recheck: 4 };

function before(a: Deadline, b: Deadline): boolean {
  if (a.at !== b.at) return a.at < b.at;
  if (a.kind !== b.kind) return KIND_ORDER[a.kind] < KIND_ORDER[b.kind];
  return a.id < b.id;
}

export class DeadlineHeap {
  #items: Deadline[] = [];

  get size(): number {
    return this.#items.length;
  }

  push(d: Deadline): void {
    const items = this.#items;
    items.push(d);
    let i = items.length - 1;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (!before(items[i]!, items[parent]!)) break;
      [items[parent], items[i]] = [items[i]!, items[parent]!];
      i = parent;
    }
  }

  peek(): Deadline | undefined {
    return this.#items[0];
  }

  pop(): Deadline | undefined {
    const items = this.#items;
    const top = items[0];
    const last = items.pop();
    if (items.length > 0 && last) {
      items[0] = last;
      let i = 0;
      for (;;) {
        const l = 2 * i + 1;
        const r = l + 1;
        let min = i;
        if (l < items.length && before(items[l]!, items[min]!)) min = l;
        if (r < items.length && before(items[r]!, items[min]!)) min = r;
        if (min === i) break;
        [items[min], items[i]] = [items[i]!, items[min]!];
        i = min;
      }
    }
    return top;
  }
}

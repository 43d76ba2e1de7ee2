/**
 * Every timed rule of a bucket (queue timeouts, confirm windows, reconnect graces) as one lazy
 * min-heap, so the actor needs exactly one alarm: the top of this heap. Entries are never
 * removed when a deadline moves or stops mattering; the owner checks each popped entry against
 * current state and drops stale ones. Push and pop are O(log n).
 */
export type DeadlineKind = "queue" | "confirm" | "grace";

export interface Deadline {
  at: number;
  kind: DeadlineKind;
  id: string;
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
      if (items[parent]!.at <= items[i]!.at) break;
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
        if (l < items.length && items[l]!.at < items[min]!.at) min = l;
        if (r < items.length && items[r]!.at < items[min]!.at) min = r;
        if (min === i) break;
        [items[min], items[i]] = [items[i]!, items[min]!];
        i = min;
      }
    }
    return top;
  }
}

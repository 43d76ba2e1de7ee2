/**
 * What every Durable Object writes and how often it is called, read from the runtime's own
 * counters: each SQL statement's `SqlStorageCursor.rowsWritten` (index entries included, as
 * billed), one row per key of a KV `put`/`delete`, one per `setAlarm`/`deleteAlarm`. Requests are
 * counted where they happen: calls through a stub (RPC, fetch) at the caller, alarms and
 * WebSocket messages at the object. Only the bench's entry (./worker.ts) uses this; the service
 * itself is deployed without it.
 */

import type { MeterSnapshot, RequestKind } from "../meterSnapshot.ts";
import { tableOf } from "../sqlTable.ts";

export type { MeterSnapshot, RequestKind };

const rows = new Map<string, Map<string, number>>();
const requests = new Map<string, Map<RequestKind, number>>();
const sizes = new Map<string, { cls: string; bytes: number }>();
let lateRows = 0;
/** Objects that ran a statement or set an alarm since `takeTouched` last ran: class -> ids. */
let touched = new Map<string, Set<string>>();

/** `map.get(key)`, made and set when missing. */
function mapIn<K, V>(map: Map<K, V>, key: K, make: () => V): V {
  const found = map.get(key);
  if (found !== undefined) return found;
  const made = make();
  map.set(key, made);
  return made;
}

function touch(cls: string, id: string): void {
  mapIn(touched, cls, () => new Set<string>()).add(id);
}

export function takeTouched(): Map<string, Set<string>> {
  const out = touched;
  touched = new Map();
  return out;
}

/**
 * The bench clock: `Date.now()` everywhere in the isolate, moved ahead by `advanceClock` so
 * retention and sweeps come due without waiting hours. Alarms are set in real time (the
 * offset taken off), so an object's own deadlines still fire when it expects them.
 */
const realNow = Date.now.bind(Date);
let offsetMs = 0;
Date.now = () => realNow() + offsetMs;

export function advanceClock(ms: number): void {
  offsetMs += ms;
}

export function realTimeNow(): number {
  return realNow();
}

function add(cls: string, table: string, n: number): void {
  if (n <= 0) return;
  const byTable = mapIn(rows, cls, () => new Map<string, number>());
  byTable.set(table, (byTable.get(table) ?? 0) + n);
}

export function countRequest(cls: string, kind: RequestKind): void {
  const byKind = mapIn(requests, cls, () => new Map<RequestKind, number>());
  byKind.set(kind, (byKind.get(kind) ?? 0) + 1);
}

export function snapshot(): MeterSnapshot {
  const size: MeterSnapshot["size"] = {};
  for (const { cls, bytes } of sizes.values()) {
    const s = size[cls] ?? { objects: 0, bytes: 0 };
    size[cls] = s;
    s.objects++;
    s.bytes += bytes;
  }
  return {
    rows: Object.fromEntries([...rows].map(([cls, t]) => [cls, Object.fromEntries(t)])),
    requests: Object.fromEntries([...requests].map(([cls, k]) => [cls, Object.fromEntries(k)])),
    size,
    lateRows,
    clockOffsetMs: offsetMs,
  };
}

type Pending = { cursor: SqlStorageCursor<Record<string, SqlStorageValue>>; counted: number; table: string };

/** A counting view of one object's SQL: every statement's rows written, by table. */
function meteredSql(sql: SqlStorage, cls: string, id: string, key: string): SqlStorage {
  // Cursors read after their first step: a statement that writes more as it is iterated
  // would show here (`lateRows`), so one read per statement is known to be enough.
  let pending: Pending[] = [];
  const settle = () => {
    for (const p of pending) {
      const late = p.cursor.rowsWritten - p.counted;
      if (late > 0) {
        lateRows += late;
        add(cls, p.table, late);
      }
    }
    pending = [];
  };
  const exec = (query: string, ...bindings: unknown[]) => {
    settle();
    touch(cls, id);
    const cursor = sql.exec(query, ...bindings);
    const written = cursor.rowsWritten;
    const table = tableOf(query);
    if (table === null) return cursor;
    add(cls, table, written);
    if (written > 0) sizes.set(key, { cls, bytes: sql.databaseSize });
    pending.push({ cursor, counted: written, table });
    return cursor;
  };
  return new Proxy(sql, {
    get(target, prop) {
      if (prop === "exec") return exec;
      const value = Reflect.get(target, prop, target);
      return typeof value === "function" ? value.bind(target) : value;
    },
  });
}

const keyCount = (keys: unknown) =>
  Array.isArray(keys)
    ? keys.length
    : typeof keys === "object" && keys !== null
      ? Object.keys(keys).length
      : 1;

/** Count the object's storage writes from now on (its `ctx.storage` is replaced by a counting view). */
export function meterStorage(ctx: DurableObjectState, cls: string): void {
  const storage = ctx.storage;
  const id = ctx.id.toString();
  const key = `${cls}|${id}`;
  if (!sizes.has(key)) sizes.set(key, { cls, bytes: 0 });
  touch(cls, id);
  const sql = meteredSql(storage.sql, cls, id, key);
  const overrides: Record<string, unknown> = {
    sql,
    // put(key, value) or put({ k: v, ... }); delete(key) or delete([keys]).
    put: (keys: unknown, ...rest: unknown[]) => {
      add(cls, "(kv)", keyCount(keys));
      return Reflect.apply(storage.put, storage, [keys, ...rest]);
    },
    delete: (keys: unknown, ...rest: unknown[]) => {
      add(cls, "(kv)", keyCount(keys));
      return Reflect.apply(storage.delete, storage, [keys, ...rest]);
    },
    setAlarm: (at: number | Date, options?: DurableObjectSetAlarmOptions) => {
      add(cls, "(alarm)", 1);
      touch(cls, id);
      const t = typeof at === "number" ? at : at.getTime();
      return storage.setAlarm(t - offsetMs, options);
    },
    deleteAlarm: (options?: DurableObjectSetAlarmOptions) => {
      add(cls, "(alarm)", 1);
      return storage.deleteAlarm(options);
    },
    getAlarm: async (options?: DurableObjectGetAlarmOptions) => {
      const at = await storage.getAlarm(options);
      return at === null ? null : at + offsetMs;
    },
  };
  const metered = new Proxy(storage, {
    get(target, prop) {
      if (typeof prop === "string" && prop in overrides) return overrides[prop];
      const value = Reflect.get(target, prop, target);
      return typeof value === "function" ? value.bind(target) : value;
    },
  });
  Object.defineProperty(ctx, "storage", { value: metered, configurable: true });
}

/** Fire the object's alarm now if it has one (the bench's prune step); not counted as a write. */
export async function fireAlarmNow(ctx: DurableObjectState): Promise<boolean> {
  const real = realStorage(ctx);
  if ((await real.getAlarm()) === null) return false;
  await real.setAlarm(realNow());
  return true;
}

const realStorages = new WeakMap<DurableObjectState, DurableObjectStorage>();

/** Remember the unmetered storage of `ctx` (call before `meterStorage`). */
export function keepRealStorage(ctx: DurableObjectState): void {
  realStorages.set(ctx, ctx.storage);
}

function realStorage(ctx: DurableObjectState): DurableObjectStorage {
  return realStorages.get(ctx) ?? ctx.storage;
}

/** A view of a namespace whose stubs count each call (RPC or fetch) against `cls`. */
export function meteredNamespace<T extends Rpc.DurableObjectBranded | undefined>(
  ns: DurableObjectNamespace<T>,
  cls: string,
): DurableObjectNamespace<T> {
  const stubOf = (stub: DurableObjectStub<T>) =>
    new Proxy(stub, {
      get(target, prop) {
        const value = Reflect.get(target, prop, target);
        if (typeof value !== "function" || prop === "then" || typeof prop === "symbol") return value;
        return (...args: unknown[]) => {
          countRequest(cls, prop === "fetch" ? "fetch" : "rpc");
          return Reflect.apply(value, target, args);
        };
      },
    });
  return new Proxy(ns, {
    get(target, prop) {
      const value = Reflect.get(target, prop, target);
      if (prop === "get" || prop === "getByName")
        return (...args: unknown[]) =>
          stubOf(Reflect.apply(value as () => DurableObjectStub<T>, target, args));
      return typeof value === "function" ? value.bind(target) : value;
    },
  });
}

import { runInDurableObject } from "cloudflare:test";

/**
 * Rows a Durable Object writes, as its runtime counts them: every SQL statement's cursor reports
 * `rowsWritten` (index entries and `sqlite_sequence` updates included), and each KV `put` /
 * `delete` and each `setAlarm` / `deleteAlarm` is counted as one row. Counted per table (the
 * first table the statement writes), from `watch` until the object is evicted.
 */
export type RowCounts = { total: number; byTable: Record<string, number> };

type Stub = DurableObjectStub;

/** A statement's table and its cursor (read lazily: its count is final once it has run). */
type Written = { table: string; cursor: { readonly rowsWritten: number } };
type Log = { statements: Written[]; calls: Record<string, number> };
const watched = new WeakMap<DurableObjectStorage, Log>();

/** Start counting the object's writes from now on. */
export async function watchRows(stub: Stub): Promise<void> {
  await runInDurableObject(stub, (_instance, state) => {
    const storage = state.storage;
    const log: Log = { statements: [], calls: {} };
    watched.set(storage, log);
    const sql = storage.sql;
    const exec = sql.exec.bind(sql);
    sql.exec = ((query: string, ...bindings: unknown[]) => {
      const cursor = exec(query, ...bindings);
      log.statements.push({ table: tableOf(query), cursor });
      return cursor;
    }) as typeof sql.exec;
    for (const method of ["put", "delete", "setAlarm", "deleteAlarm"] as const) {
      const original = (storage[method] as (...args: unknown[]) => unknown).bind(storage);
      (storage as unknown as Record<string, unknown>)[method] = (...args: unknown[]) => {
        const keys =
          method === "put" && typeof args[0] === "object" ? Object.keys(args[0] as object).length : 1;
        log.calls[method] = (log.calls[method] ?? 0) + keys;
        return original(...args);
      };
    }
  });
}

/** What the object wrote since `watchRows`. */
export async function rowsWritten(stub: Stub): Promise<RowCounts> {
  return runInDurableObject(stub, (_instance, state) => {
    const log = watched.get(state.storage);
    if (!log) throw new Error("not watched (or evicted since): call watchRows first");
    const byTable: Record<string, number> = {};
    for (const { table, cursor } of log.statements) {
      if (cursor.rowsWritten > 0) byTable[table] = (byTable[table] ?? 0) + cursor.rowsWritten;
    }
    for (const [method, n] of Object.entries(log.calls)) byTable[`(${method})`] = n;
    const total = Object.values(byTable).reduce((a, b) => a + b, 0);
    return { total, byTable };
  });
}

/** The table a statement writes, from its text (schema statements and reads are "other"). */
function tableOf(query: string): string {
  const m = /^\s*(?:insert(?:\s+or\s+\w+)?\s+into|replace\s+into|update|delete\s+from)\s+(\w+)/i.exec(query);
  return m?.[1] ?? "other";
}

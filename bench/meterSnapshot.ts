/** Counters the bench's metered entry (bench/storage/worker.ts) serves at `/__bench/meter`. */

export type RequestKind = "rpc" | "fetch" | "alarm" | "wsMessage";

export type MeterSnapshot = {
  /** class -> table -> rows written. Tables "(kv)", "(alarm)", "(schema)" are not SQL tables. */
  rows: Record<string, Record<string, number>>;
  /** class -> kind -> calls into its objects. */
  requests: Record<string, Partial<Record<RequestKind, number>>>;
  /** class -> objects seen and the sum of their last `databaseSize`, bytes. */
  size: Record<string, { objects: number; bytes: number }>;
  /** Rows a cursor reported only after its statement first ran (0 when reading at once suffices). */
  lateRows: number;
  /** The bench clock's lead over the real clock, ms. */
  clockOffsetMs: number;
};

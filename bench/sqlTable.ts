/**
 * The table a statement writes, from its text (the first statement's target): "(schema)" for
 * DDL, "(other)" for anything else, null for wrangler dev's own bookkeeping (not deployed).
 */
export function tableOf(query: string): string | null {
  const q = query.replace(/--[^\n]*\n/g, " ").trim();
  const m =
    /^(?:INSERT|REPLACE)(?:\s+OR\s+\w+)?\s+INTO\s+["`]?(\w+)/i.exec(q) ??
    /^UPDATE(?:\s+OR\s+\w+)?\s+["`]?(\w+)/i.exec(q) ??
    /^DELETE\s+FROM\s+["`]?(\w+)/i.exec(q);
  // wrangler dev's own note of each object's name: local development only, never deployed.
  if (m) return m[1]!.startsWith("__miniflare") ? null : m[1]!.toLowerCase();
  if (/^(CREATE|DROP|ALTER)\b/i.test(q)) return "(schema)";
  return "(other)";
}

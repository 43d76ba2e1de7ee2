/**
 * Tell "the database could not be reached or is not serving" (worth a 503 and a retry) from
 * "the database refused this statement" (a bug: a 500 with the error logged).
 *
 * Errors from Postgres carry a five-character SQLSTATE `code`, possibly a few `cause`s deep
 * (drizzle wraps them). Connection exceptions (class 08), insufficient resources (53), operator
 * intervention such as a shutdown (57) and the driver's own failures (no SQLSTATE: the socket
 * closed, a connect timeout, DNS) all mean the database is unavailable.
 */
export function isDatabaseUnavailable(error: unknown): boolean {
  const sqlState = findSqlState(error);
  if (sqlState === undefined) return true;
  return /^(08|53|57)/.test(sqlState);
}

function findSqlState(error: unknown): string | undefined {
  let current: unknown = error;
  for (let depth = 0; depth < 5 && current !== null && typeof current === "object"; depth++) {
    const code = (current as { code?: unknown }).code;
    if (typeof code === "string" && /^[0-9A-Z]{5}$/.test(code)) return code;
    current = (current as { cause?: unknown }).cause;
  }
  return undefined;
}

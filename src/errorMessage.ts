/**
 * A readable one-line message for logs from anything thrown. The Neon driver rejects with
 * ErrorEvents (no `Error` prototype, printed as `[object ErrorEvent]`) and drizzle wraps the
 * driver's error as `cause`, so follow causes to the root and read `message` wherever it is.
 */
export function errorMessage(error: unknown): string {
  let current = error;
  for (let depth = 0; depth < 5; depth++) {
    const cause = (current as { cause?: unknown } | null)?.cause;
    if (cause === undefined || cause === null) break;
    current = cause;
  }
  const message = (current as { message?: unknown } | null)?.message;
  return typeof message === "string" && message ? message : String(current);
}

import { neonConfig, Pool } from "@neondatabase/serverless";
import { drizzle, type NeonDatabase } from "drizzle-orm/neon-serverless";
import { withTimeout } from "../withTimeout.ts";
import * as schema from "./schema.ts";

export type Database = NeonDatabase<typeof schema>;

/** True for hosts that can only be local development servers, never Neon. */
export function isLocalHost(hostname: string): boolean {
  const h = hostname.replace(/^\[|\]$/g, "");
  return h === "localhost" || h === "::1" || h.startsWith("127.") || h.endsWith(".localhost");
}

/**
 * Point the Neon driver at the right transport for this URL. Neon hosts get the driver's
 * defaults (secure WebSockets to Neon's own proxy). A local Postgres or PGlite has no WebSocket
 * endpoint, so we go through our WebSocket-to-TCP bridge (`wsProxy`), unencrypted, and without
 * pipelined connect, which needs Neon's proxy to understand cleartext passwords up front.
 */
export function configureNeonTransport(databaseUrl: string, wsProxy: string | undefined): void {
  const { hostname } = new URL(databaseUrl);
  if (isLocalHost(hostname)) {
    if (!wsProxy)
      throw new Error("NEON_WS_PROXY must name the local bridge (host:port) to reach a local database");
    neonConfig.wsProxy = (host, port) => `${wsProxy}/v1?address=${host}:${port}`;
    neonConfig.useSecureWebSocket = false;
    neonConfig.pipelineConnect = false;
  } else {
    neonConfig.wsProxy = (host) => `${host}/v2`;
    neonConfig.useSecureWebSocket = true;
    neonConfig.pipelineConnect = "password";
  }
}

/**
 * Open a pool for one unit of work and always close it. Neon's guidance for Workers: a Pool
 * must not outlive the request (or alarm) that created it, so it is never kept at module scope.
 */
export async function withDatabase<T>(
  databaseUrl: string,
  wsProxy: string | undefined,
  work: (db: Database) => Promise<T>,
  { timeoutMs = 10_000 }: { timeoutMs?: number } = {},
): Promise<T> {
  configureNeonTransport(databaseUrl, wsProxy);
  const pool = new Pool({ connectionString: databaseUrl, max: 1, connectionTimeoutMillis: 5_000 });
  // An idle client erroring (the server went away) must not become an unhandled rejection.
  pool.on("error", () => {});
  let timedOut = false;
  try {
    // A server that accepts and then hangs would otherwise hold the caller forever.
    return await withTimeout(
      work(drizzle({ client: pool, schema })),
      timeoutMs,
      () => new DatabaseTimeoutError(timeoutMs),
    );
  } catch (e) {
    timedOut = e instanceof DatabaseTimeoutError;
    throw e;
  } finally {
    const ended = pool.end().catch(() => {});
    // end() waits for every client to be released, and a query that timed out holds its client
    // until the server answers, which may be never: after a timeout, close without waiting.
    if (!timedOut) await ended;
  }
}

export class DatabaseTimeoutError extends Error {
  constructor(ms: number) {
    super(`the database did not answer within ${ms} ms`);
    this.name = "DatabaseTimeoutError";
  }
}

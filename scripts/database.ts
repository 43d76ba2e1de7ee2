import { mkdir, open, readFile, rm } from "node:fs/promises";
import { dirname } from "node:path";
import { PGlite } from "@electric-sql/pglite";
import { PGLiteSocketServer } from "@electric-sql/pglite-socket";
import { isLocalHost } from "../src/db/connect.ts";
import { type Bridge, startBridge } from "./bridge.ts";

/**
 * Whatever database the Worker should talk to in local development, and what it takes to reach
 * it: an embedded PGlite (no DATABASE_URL), a local PostgreSQL (bridge only) or Neon (nothing).
 */

export type DatabaseKind = "pglite" | "postgres" | "neon";

export type StartDatabaseOptions = {
  databaseUrl?: string;
  /** Where PGlite keeps its files; git-ignored under .data/. */
  dataDir?: string;
  /** In-memory PGlite, for tests. */
  memory?: boolean;
};

export type RunningDatabase = {
  kind: DatabaseKind;
  /** DATABASE_URL for the Worker. */
  databaseUrl: string;
  /** NEON_WS_PROXY for the Worker; undefined for Neon, which has its own WebSocket proxy. */
  wsProxy: string | undefined;
  /** Stops everything this started and frees its ports. */
  stop(): Promise<void>;
};

export const DEFAULT_PGLITE_DIR = ".data/pglite";

/**
 * PGlite is a single Postgres backend; pglite-socket multiplexes connections onto it and
 * defaults to accepting just one, refusing the rest with "Too many connections". The Worker opens
 * a Pool per request, so under `npm start` or a load test many connect at once. Connections are
 * cheap here: the bridge (singleBackend) lets one session at a time use the backend anyway.
 */
const PGLITE_MAX_CONNECTIONS = 64;

export function classifyDatabaseUrl(databaseUrl: string | undefined): DatabaseKind {
  if (databaseUrl === undefined || databaseUrl === "") return "pglite";
  return isLocalHost(new URL(databaseUrl).hostname) ? "postgres" : "neon";
}

export async function startDatabase({
  databaseUrl,
  dataDir = DEFAULT_PGLITE_DIR,
  memory = false,
}: StartDatabaseOptions = {}): Promise<RunningDatabase> {
  const kind = classifyDatabaseUrl(databaseUrl);
  if (kind === "neon" && databaseUrl) return { kind, databaseUrl, wsProxy: undefined, stop: async () => {} };
  if (kind === "postgres" && databaseUrl) {
    const url = new URL(databaseUrl);
    const bridge = await startBridge({
      target: { host: url.hostname.replace(/^\[|\]$/g, ""), port: url.port ? Number(url.port) : 5432 },
    });
    return { kind, databaseUrl, wsProxy: bridge.address, stop: () => bridge.close() };
  }
  return startPglite(dataDir, memory);
}

function isRunning(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === "EPERM";
  }
}

/**
 * PGlite, unlike a real postmaster, writes no postmaster.pid: two processes opening the same
 * directory (say `npm start` and `npm run db:migrate`) would both write it and corrupt it. A pid
 * file next to the directory stands in for that lock; one left by a dead process is taken over.
 */
async function lockDataDir(dataDir: string): Promise<() => Promise<void>> {
  const lockPath = `${dataDir.replace(/\/+$/, "")}.lock`;
  await mkdir(dirname(lockPath), { recursive: true });
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      const handle = await open(lockPath, "wx");
      await handle.writeFile(String(process.pid));
      await handle.close();
      return () => rm(lockPath, { force: true });
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== "EEXIST") throw error;
      const holder = Number((await readFile(lockPath, "utf8").catch(() => "")).trim());
      if (holder > 0 && holder !== process.pid && isRunning(holder)) {
        throw new Error(`${dataDir} is in use by process ${holder} (another \`npm start\`?); stop it first`);
      }
      await rm(lockPath, { force: true });
    }
  }
  throw new Error(`could not lock ${dataDir} (${lockPath})`);
}

async function startPglite(dataDir: string, memory: boolean): Promise<RunningDatabase> {
  const unlock = memory ? async () => {} : await lockDataDir(dataDir);
  let db: PGlite | undefined;
  let server: PGLiteSocketServer | undefined;
  let bridge: Bridge | undefined;
  const stop = async () => {
    await bridge?.close();
    await server?.stop();
    // Closing flushes PGlite's files; skipping it can leave the persisted cluster needing recovery.
    if (db && !db.closed) await db.close();
    await unlock();
  };
  try {
    if (!memory) await mkdir(dataDir, { recursive: true });
    db = memory ? new PGlite() : new PGlite(dataDir);
    await db.waitReady;
    server = new PGLiteSocketServer({
      db,
      host: "127.0.0.1",
      port: 0,
      maxConnections: PGLITE_MAX_CONNECTIONS,
    });
    await server.start();
    const pgAddress = server.getServerConn();
    const port = Number(pgAddress.slice(pgAddress.lastIndexOf(":") + 1));
    bridge = await startBridge({ target: { host: "127.0.0.1", port }, singleBackend: true });
    // PGlite accepts any credentials; naming some keeps the driver from asking for a password.
    const databaseUrl = `postgresql://postgres:postgres@127.0.0.1:${port}/postgres`;
    let stopping: Promise<void> | undefined;
    return {
      kind: "pglite",
      databaseUrl,
      wsProxy: bridge.address,
      stop: () => {
        stopping ??= stop();
        return stopping;
      },
    };
  } catch (error) {
    await stop().catch(() => {});
    throw error;
  }
}

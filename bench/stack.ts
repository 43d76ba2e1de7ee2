import { type ChildProcess, spawn } from "node:child_process";
import { closeSync, mkdirSync, mkdtempSync, openSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { freePort, PROJECT_ROOT } from "../test/support/localProcesses.ts";

export { PROJECT_ROOT };

import {
  cpuMs,
  descendants,
  groupIsGone,
  isAlive,
  listeningPorts,
  type ProcInfo,
  rssKb,
  signalGroup,
} from "./proc.ts";

/**
 * The server under test: either the stack `npm start` runs (scripts/start.ts: PGlite + bridge +
 * migrations + `wrangler dev`), started here on a free loopback port with throwaway state, or an
 * external one named by --url. Processes are found through the process tree, so memory and CPU
 * can be read per role (workerd runtime, wrangler's proxy workerd, wrangler, the database).
 */

export const HEALTH_PATH = "/api/v1/matching/health";

export type Role = "workerd-runtime" | "workerd-proxy" | "wrangler" | "database" | "other";
export type RoleFigures = { pids: number[]; rssKb: number; cpuMs: number };
export type ProcSnapshot = { at: number; roles: Partial<Record<Role, RoleFigures>> };

export type Stack = {
  /** Where the bench's clients connect: the runtime workerd itself, unless `viaProxy`. */
  base: string;
  /** True when clients go through wrangler's dev proxy (as a browser on `npm start` does). */
  viaProxy: boolean;
  /** True when we started it (and so must stop it). */
  owned: boolean;
  databaseUrl: string | undefined;
  wsProxy: string | undefined;
  logPath: string | undefined;
  /** Memory and CPU of each role now; empty when we do not know the server's processes. */
  snapshot(): ProcSnapshot;
  /** workerd pids (runtime first): the processes whose RSS is the memory figure. */
  workerdPids(): number[];
  stop(): Promise<void>;
};

async function healthAnswers(url: string, timeoutMs = 8_000): Promise<number | undefined> {
  try {
    const response = await fetch(url, { signal: AbortSignal.timeout(timeoutMs) });
    await response.arrayBuffer();
    return response.status;
  } catch {
    return undefined;
  }
}

function classify(p: ProcInfo, port: number | undefined): Role {
  if (p.comm === "workerd" || p.cmdline.includes("/workerd ")) {
    // wrangler's ProxyWorker owns the user-facing port and forwards to the runtime workerd.
    return port !== undefined && p.cmdline.includes(`entry=127.0.0.1:${port}`)
      ? "workerd-proxy"
      : "workerd-runtime";
  }
  if (p.cmdline.includes("wrangler")) return "wrangler";
  return "other";
}

function snapshotOf(root: number | undefined, port: number | undefined, rootRole: Role): ProcSnapshot {
  const roles: Partial<Record<Role, RoleFigures>> = {};
  if (root === undefined) return { at: Date.now(), roles };
  const add = (role: Role, pid: number) => {
    const rss = rssKb(pid);
    const cpu = cpuMs(pid);
    if (rss === undefined || cpu === undefined) return;
    const r = roles[role] ?? { pids: [], rssKb: 0, cpuMs: 0 };
    roles[role] = r;
    r.pids.push(pid);
    r.rssKb += rss;
    r.cpuMs += cpu;
  };
  add(rootRole, root);
  for (const p of descendants(root)) add(classify(p, port), p.pid);
  return { at: Date.now(), roles };
}

/** An external server: nothing to start or stop; processes only if --server-pid names its root. */
export function externalStack(base: string, serverPid: number | undefined): Stack {
  const port = Number(new URL(base).port) || undefined;
  return {
    base: base.replace(/\/+$/, ""),
    viaProxy: false,
    owned: false,
    databaseUrl: process.env.DATABASE_URL?.trim() || undefined,
    wsProxy: process.env.NEON_WS_PROXY?.trim() || undefined,
    logPath: undefined,
    snapshot: () => snapshotOf(serverPid, port, "other"),
    workerdPids: () => workerdPidsOf(snapshotOf(serverPid, port, "other")),
    stop: async () => {},
  };
}

function workerdPidsOf(s: ProcSnapshot): number[] {
  return [...(s.roles["workerd-runtime"]?.pids ?? []), ...(s.roles["workerd-proxy"]?.pids ?? [])];
}

export type StartOptions = {
  secret: string;
  logPath: string;
  /** Extra settings for the Worker (e.g. a long queue timeout so idle sockets stay waiting). */
  env: Record<string, string>;
  onLine?: (line: string) => void;
  /**
   * Run the runtime floor (bench/floor/worker.ts) under `wrangler dev` instead of the service:
   * "bare" does none of our work; "claim" adds one per-user Durable Object write per join.
   */
  floor?: Floor | undefined;
  /**
   * Connect through wrangler's dev proxy (the port `npm start` prints) instead of straight to
   * the runtime workerd. The proxy relays every socket in a second workerd: CPU and file
   * descriptors that production does not spend.
   */
  viaProxy?: boolean;
};

export type Floor = "bare" | "claim";

/** The process to start: `npm start`'s script, or wrangler dev on the floor worker. */
function serverCommand(options: StartOptions, port: number, dataDir: string): string[] {
  if (!options.floor) return [join(PROJECT_ROOT, "scripts", "start.ts")];
  return [
    join(PROJECT_ROOT, "node_modules", ".bin", "wrangler"),
    "dev",
    "-c",
    join(PROJECT_ROOT, "bench", "floor", "wrangler.toml"),
    "--port",
    String(port),
    "--ip",
    "127.0.0.1",
    "--persist-to",
    dataDir,
    "--show-interactive-dev-session=false",
    ...(options.floor === "claim" ? ["--var", "CLAIM:1"] : []),
  ];
}

/**
 * Start `node scripts/start.ts` (or the floor) on a free port with throwaway local state; wait
 * for health.
 */
export async function startStack(options: StartOptions): Promise<Stack> {
  const port = await freePort();
  const dataDir = mkdtempSync(join(tmpdir(), "edge-matcher-bench-"));
  const env: Record<string, string | undefined> = {
    ...process.env,
    ...options.env,
    PORT: String(port),
    LOCAL_DATA_DIR: dataDir,
    JWT_SECRET: options.secret,
    WRANGLER_SEND_METRICS: "false",
    // The floor runs without wrangler dev's local observability, as `npm start` does (start.ts).
    X_LOCAL_OBSERVABILITY: process.env.X_LOCAL_OBSERVABILITY ?? "false",
  };
  // Settings that would make our tokens or rooms unacceptable.
  for (const key of ["JWKS_URL", "JWT_ISSUER", "JWT_AUDIENCE", "JWT_USER_CLAIM", "TOPICS", "MAINTENANCE"]) {
    delete env[key];
  }
  mkdirSync(dirname(options.logPath), { recursive: true });
  const logFd = openSync(options.logPath, "a");
  const child: ChildProcess = spawn(process.execPath, serverCommand(options, port, dataDir), {
    cwd: PROJECT_ROOT,
    detached: true,
    stdio: ["ignore", logFd, logFd],
    env,
  });
  closeSync(logFd);
  const rootPid = child.pid;
  if (rootPid === undefined) throw new Error("could not spawn scripts/start.ts");
  let exited: number | null | undefined;
  child.on("exit", (code) => {
    exited = code;
  });

  // Every process group we have seen under the root (wrangler is detached into its own group),
  // so a stop reaches workerd even if start.ts dies first.
  const groups = new Set<number>([rootPid]);
  const noteGroups = () => {
    for (const p of descendants(rootPid)) groups.add(p.pgid);
  };
  const killAllNow = () => {
    noteGroups();
    for (const g of groups) signalGroup(g, "SIGKILL");
  };
  process.once("exit", killAllNow);

  let stopping: Promise<void> | undefined;
  const stop = () => {
    stopping ??= (async () => {
      noteGroups();
      // start.ts stops wrangler's group and closes PGlite cleanly on SIGTERM.
      signalGroup(rootPid, "SIGTERM");
      const deadline = Date.now() + 12_000;
      while (Date.now() < deadline && [...groups].some((g) => !groupIsGone(g))) await sleep(100);
      for (const g of groups) if (!groupIsGone(g)) signalGroup(g, "SIGKILL");
      const killDeadline = Date.now() + 3_000;
      while (Date.now() < killDeadline && [...groups].some((g) => !groupIsGone(g))) await sleep(100);
      process.removeListener("exit", killAllNow);
      rmSync(dataDir, { recursive: true, force: true });
    })();
    return stopping;
  };

  const base = `http://127.0.0.1:${port}`;
  // start.ts hosts the embedded database in its own process; the floor's root is wrangler.
  const rootRole: Role = options.floor ? "wrangler" : "database";
  try {
    const deadline = Date.now() + 180_000;
    let status: number | undefined;
    while (exited === undefined && Date.now() < deadline) {
      noteGroups();
      status = await healthAnswers(`${base}${HEALTH_PATH}`);
      if (status !== undefined) break;
      await sleep(300);
    }
    if (status === undefined) {
      const tail = readFileSync(options.logPath, "utf8").split("\n").slice(-15).join("\n");
      throw new Error(
        exited !== undefined
          ? `the server (${options.floor ? "floor" : "scripts/start.ts"}) exited (code ${exited}) before it answered:\n${tail}`
          : `${base}${HEALTH_PATH} did not answer within 180 s:\n${tail}`,
      );
    }
    options.onLine?.(`health answered ${status}`);
  } catch (error) {
    await stop();
    throw error;
  }
  noteGroups();

  // DATABASE_URL / NEON_WS_PROXY as start.ts handed them to wrangler (`--var=KEY:value`).
  let databaseUrl: string | undefined;
  let wsProxy: string | undefined;
  for (const p of descendants(rootPid)) {
    for (const arg of p.cmdline.split(" ")) {
      if (arg.startsWith("--var=DATABASE_URL:")) databaseUrl = arg.slice("--var=DATABASE_URL:".length);
      if (arg.startsWith("--var=NEON_WS_PROXY:")) wsProxy = arg.slice("--var=NEON_WS_PROXY:".length);
    }
  }

  const direct = options.viaProxy ? undefined : await runtimeEntry(rootPid, port, rootRole);
  if (direct) options.onLine?.(`clients connect to the runtime workerd directly at ${direct}`);
  else if (!options.viaProxy)
    options.onLine?.("runtime workerd's own port not found: going through the proxy");

  return {
    base: direct ?? base,
    viaProxy: direct === undefined,
    owned: true,
    databaseUrl,
    wsProxy,
    logPath: options.logPath,
    snapshot: () => snapshotOf(isAlive(rootPid) ? rootPid : undefined, port, rootRole),
    workerdPids: () => workerdPidsOf(snapshotOf(rootPid, port, rootRole)),
    stop,
  };
}

/**
 * The runtime workerd's own HTTP socket: wrangler's proxy forwards every request to it, and it
 * serves the Worker as is (the health check proves it). Clients that connect here skip a relay
 * production does not have.
 */
async function runtimeEntry(rootPid: number, proxyPort: number, rootRole: Role): Promise<string | undefined> {
  const runtime = snapshotOf(rootPid, proxyPort, rootRole).roles["workerd-runtime"]?.pids ?? [];
  for (const pid of runtime) {
    for (const port of listeningPorts(pid)) {
      const candidate = `http://127.0.0.1:${port}`;
      const status = await healthAnswers(`${candidate}${HEALTH_PATH}`, 2_000);
      if (status === 200 || status === 503) return candidate;
    }
  }
  return undefined;
}

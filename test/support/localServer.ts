import { type ChildProcess, spawn } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import {
  descendantsOf,
  freePort,
  groupsOf,
  isRunning,
  killQuietly,
  PROJECT_ROOT,
  waitFor,
} from "./localProcesses.ts";

/** `npm start` (wrangler dev with the embedded database) for the Node tests that need a real server. */

export const READY_TIMEOUT_MS = 120_000;

export type Server = { base: string; child: ChildProcess; pids: number[]; dataDir: string; output: string };
const servers: Server[] = [];

/**
 * Start `npm start`'s script with `JWT_SECRET` = `secret`; again on a fresh port if wrangler lost
 * a race for one of its own ports to another server starting at the same moment (other test
 * files start servers too; wrangler picks some of its ports itself). `on` starts it again where
 * a crashed server ran: same port (the clients reconnect there) and same LOCAL_DATA_DIR.
 */
export async function startServer(
  secret: string,
  extraEnv: Record<string, string> = {},
  on?: { port: number; dataDir: string },
): Promise<Server> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await startServerOnce(secret, extraEnv, on);
    } catch (error) {
      if (attempt >= 3 || !String(error).includes("Address already in use")) throw error;
    }
  }
}

async function startServerOnce(
  secret: string,
  extraEnv: Record<string, string>,
  on: { port: number; dataDir: string } | undefined,
): Promise<Server> {
  const port = on?.port ?? (await freePort());
  const dataDir = on?.dataDir ?? mkdtempSync(join(tmpdir(), "edge-matcher-e2e-"));
  const child = spawn(process.execPath, ["scripts/start.ts"], {
    cwd: PROJECT_ROOT,
    detached: true,
    env: {
      PATH: process.env.PATH ?? "",
      HOME: process.env.HOME ?? "",
      PORT: String(port),
      LOCAL_DATA_DIR: dataDir,
      JWT_SECRET: secret,
      ...extraEnv,
    },
    stdio: ["ignore", "pipe", "pipe"],
  });
  const server: Server = { base: `127.0.0.1:${port}`, child, pids: [], dataDir, output: "" };
  servers.push(server);
  child.stdout?.on("data", (chunk: Buffer) => (server.output += chunk));
  child.stderr?.on("data", (chunk: Buffer) => (server.output += chunk));
  await waitFor(
    "the server's health check",
    async () => {
      if (child.exitCode !== null) throw new Error(`start.ts exited (${child.exitCode}):\n${server.output}`);
      try {
        const res = await fetch(`http://${server.base}/api/v1/matching/health`, {
          signal: AbortSignal.timeout(3_000),
        });
        return res.status === 200 ? true : undefined;
      } catch {
        return undefined;
      }
    },
    { timeoutMs: READY_TIMEOUT_MS, intervalMs: 500 },
  );
  server.pids = descendantsOf(child.pid ?? -1);
  return server;
}

/**
 * SIGKILL every process of the server at once, as a power cut would: start.ts's process group,
 * and wrangler's, which `npm start` makes a group of its own (killing start.ts's group alone
 * leaves wrangler and workerd serving). Its data stays for a restart. Answers the processes
 * killed; `awaitGone` waits for them to be gone (their ports free).
 */
export function crashServer(server: Server): number[] {
  const root = server.child.pid;
  if (root === undefined) return [];
  const pids = [root, ...descendantsOf(root)];
  for (const group of groupsOf(pids)) {
    try {
      process.kill(-group, "SIGKILL");
    } catch {
      // already gone
    }
  }
  for (const pid of pids) killQuietly(pid);
  return pids;
}

export function awaitGone(pids: number[]): Promise<true> {
  return waitFor("the killed processes to be gone", async () => (pids.some(isRunning) ? undefined : true), {
    timeoutMs: 10_000,
    intervalMs: 50,
  });
}

/** Stop every server this file started and remove its data, even if a test failed half-way. */
export function stopServers(): void {
  for (const s of servers.splice(0)) {
    // Every process group (start.ts's, wrangler's with workerd), and anything seen at start.
    crashServer(s);
    for (const pid of s.pids) killQuietly(pid);
    rmSync(s.dataDir, { recursive: true, force: true });
  }
}

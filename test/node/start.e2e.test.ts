import { type ChildProcess, spawn } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import {
  descendantsOf,
  freePort,
  isRunning,
  killQuietly,
  PROJECT_ROOT,
  portIsFree,
  waitFor,
} from "../support/localProcesses.ts";

/**
 * The whole `npm start` path: embedded PGlite in a throwaway directory, migrations, wrangler dev,
 * the Worker's health check doing a real database round trip, then a clean SIGTERM shutdown.
 * Slow (wrangler bundles and boots workerd), so it is a single test.
 */

const READY_TIMEOUT_MS = 90_000;
const STOP_TIMEOUT_MS = 20_000;

describe("npm start", () => {
  const dataDir = mkdtempSync(join(tmpdir(), "edge-matcher-start-"));
  let start: ChildProcess | undefined;
  let everStarted: number[] = [];

  afterAll(() => {
    // Only if the test failed part-way: never leave wrangler/workerd behind for the next run.
    for (const pid of [start?.pid, ...everStarted]) if (pid !== undefined && isRunning(pid)) killQuietly(pid);
    rmSync(dataDir, { recursive: true, force: true });
  });

  it(
    "serves a healthy Worker on an embedded database and stops cleanly on SIGTERM",
    async () => {
      const port = await freePort();
      let output = "";
      const child = spawn(process.execPath, ["scripts/start.ts"], {
        cwd: PROJECT_ROOT,
        env: {
          PATH: process.env.PATH ?? "",
          HOME: process.env.HOME ?? "",
          PORT: String(port),
          LOCAL_DATA_DIR: dataDir,
        },
        stdio: ["ignore", "pipe", "pipe"],
      });
      start = child;
      child.stdout?.on("data", (chunk: Buffer) => (output += chunk));
      child.stderr?.on("data", (chunk: Buffer) => (output += chunk));
      const exited = new Promise<number | null>((resolve) => child.on("exit", (code) => resolve(code)));

      const health = await waitFor(
        "GET /api/v1/matching/health to answer 200",
        async () => {
          if (child.exitCode !== null)
            throw new Error(`start.ts exited early (${child.exitCode}):\n${output}`);
          try {
            const response = await fetch(`http://127.0.0.1:${port}/api/v1/matching/health`, {
              signal: AbortSignal.timeout(3_000),
            });
            return response.status === 200
              ? { status: response.status, body: await response.json() }
              : undefined;
          } catch {
            return undefined;
          }
        },
        { timeoutMs: READY_TIMEOUT_MS, intervalMs: 500 },
      ).catch((error: unknown) => {
        throw new Error(`${String(error)}\n--- start.ts output ---\n${output}`);
      });
      expect(health.body).toMatchObject({ status: expect.any(String), db: "up" });

      // wrangler, its wrapper and workerd: everything start.ts brought up, to check after stop.
      everStarted = descendantsOf(child.pid ?? -1);
      expect(everStarted.length).toBeGreaterThan(0);
      await waitFor(
        "start.ts to print where it is serving",
        async () => (output.includes("✓") ? true : undefined),
        {
          timeoutMs: 10_000,
        },
      );
      expect(output).toContain(`ws://127.0.0.1:${port}/parties/bucket/easy.arrays?token=`);

      child.kill("SIGTERM");
      const code = await Promise.race([
        exited,
        new Promise<"timeout">((resolve) => setTimeout(() => resolve("timeout"), STOP_TIMEOUT_MS)),
      ]);
      expect(code).toBe(0);
      expect(everStarted.filter(isRunning)).toEqual([]);
      expect(await portIsFree(port)).toBe(true);
    },
    READY_TIMEOUT_MS + STOP_TIMEOUT_MS + 20_000,
  );
});

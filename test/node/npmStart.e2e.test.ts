import { type ChildProcess, execFile, spawn, spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
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
 * What a newcomer meets: `npm start` through npm, as the README says (here on a machine without
 * internet), and the README's first match by hand against it.
 * Process managers and containers stop a service with one SIGTERM to the process they started,
 * which for `npm start` is npm itself: everything under it must go, and the port with it.
 */

const READY_TIMEOUT_MS = 120_000;
const WALKTHROUGH_TIMEOUT_MS = 60_000;

function hasShellTools(): boolean {
  return ["bash", "curl"].every((tool) => spawnSync("sh", ["-c", `command -v ${tool}`]).status === 0);
}

/** The shell block of the README's "A first match by hand", aimed at `port`. */
function readmeWalkthrough(port: number): string {
  const readme = readFileSync(join(PROJECT_ROOT, "README.md"), "utf8");
  const section = readme.slice(readme.indexOf("## A first match by hand"));
  const block = /```sh\n([\s\S]*?)```/.exec(section)?.[1];
  if (!block) throw new Error('README has no shell block under "A first match by hand"');
  return block.replaceAll("127.0.0.1:8787", `127.0.0.1:${port}`);
}
const STOP_TIMEOUT_MS = 20_000;

describe("npm start", () => {
  const dataDir = mkdtempSync(join(tmpdir(), "edge-matcher-npm-stop-"));
  let npm: ChildProcess | undefined;
  let started: number[] = [];

  afterAll(() => {
    // Only if the test failed part-way: wrangler runs in a process group of its own, so every
    // process seen under npm is killed one by one.
    for (const pid of [npm?.pid, ...started]) if (pid !== undefined && isRunning(pid)) killQuietly(pid);
    rmSync(dataDir, { recursive: true, force: true });
  });

  it(
    "starts quietly with one banner, serves the README's first match, and stops everything on a SIGTERM to npm",
    async () => {
      const port = await freePort();
      let output = "";
      const child = spawn("npm", ["start"], {
        cwd: PROJECT_ROOT,
        // A group of its own, as under a process manager; the test signals npm's pid alone.
        detached: true,
        env: {
          PATH: process.env.PATH ?? "",
          HOME: process.env.HOME ?? "",
          PORT: String(port),
          LOCAL_DATA_DIR: dataDir,
        },
        stdio: ["ignore", "pipe", "pipe"],
      });
      npm = child;
      child.stdout?.on("data", (chunk: Buffer) => (output += chunk));
      child.stderr?.on("data", (chunk: Buffer) => (output += chunk));

      await waitFor(
        "the service to be healthy",
        async () => {
          if (child.exitCode !== null)
            throw new Error(`npm start exited early (${child.exitCode}):\n${output}`);
          const response = await fetch(`http://127.0.0.1:${port}/api/v1/matching/health`, {
            signal: AbortSignal.timeout(3_000),
          }).catch(() => undefined);
          return response?.status === 200 ? true : undefined;
        },
        { timeoutMs: READY_TIMEOUT_MS, intervalMs: 500 },
      ).catch((error: unknown) => {
        throw new Error(`${String(error)}\n--- npm start output ---\n${output}`);
      });
      // npm's shell, start.ts, wrangler and both workerd processes.
      started = descendantsOf(child.pid ?? -1);
      expect(started.length).toBeGreaterThanOrEqual(4);

      // A quiet start, even on a machine without internet: no stack traces, one banner.
      await waitFor("the banner", async () => (output.includes("✓") ? true : undefined), {
        timeoutMs: 10_000,
      });
      expect(output).not.toMatch(/ENOTFOUND|^\s+at \S/m);
      expect(output).not.toContain("update available");
      expect(output).toContain(`Demo page  http://127.0.0.1:${port}/`);
      expect(output).toContain(`API docs   http://127.0.0.1:${port}/docs`);
      expect(output).toContain("npm run -s token -- alice");

      // The README's first match by hand, as a newcomer would paste it (it needs bash and curl,
      // which a slim container may lack: there the rest of the test still runs).
      if (hasShellTools()) {
        const { stdout: walk } = await promisify(execFile)("bash", ["-e", "-c", readmeWalkthrough(port)], {
          cwd: PROJECT_ROOT,
          env: { PATH: process.env.PATH ?? "", HOME: process.env.HOME ?? "" },
          timeout: WALKTHROUGH_TIMEOUT_MS,
        });
        const [alice, bob, aliceConfirms, bobConfirms, history] = walk
          .trim()
          .split("\n")
          .map((l) => JSON.parse(l));
        expect(alice).toMatchObject({ userId: "alice", status: "PENDING", position: 1 });
        expect(bob).toMatchObject({ userId: "bob", status: "MATCHED", match: { partnerId: "alice" } });
        expect(aliceConfirms).toEqual({ detail: "Waiting for partner confirmation" });
        expect(bobConfirms).toMatchObject({ match_id: bob.match.id, partner_id: "alice" });
        expect(history.matches).toMatchObject([{ id: bob.match.id, status: "confirmed", partnerId: "bob" }]);
      } else console.warn("README walk-through not run: bash or curl is not on the PATH");

      child.kill("SIGTERM");

      await waitFor(
        "every process npm started to exit and the port to be free",
        async () => (started.some(isRunning) || !(await portIsFree(port)) ? undefined : true),
        { timeoutMs: STOP_TIMEOUT_MS, intervalMs: 250 },
      ).catch((error: unknown) => {
        const left = started.filter(isRunning);
        throw new Error(`${String(error)}: still running ${left.join(", ")}\n--- output ---\n${output}`);
      });
      expect(started.filter(isRunning)).toEqual([]);
      expect(await portIsFree(port)).toBe(true);
      await expect(fetch(`http://127.0.0.1:${port}/api/v1/matching/health`)).rejects.toThrow();
    },
    READY_TIMEOUT_MS + WALKTHROUGH_TIMEOUT_MS + STOP_TIMEOUT_MS + 20_000,
  );
});

import { spawn } from "node:child_process";
import { describe, expect, it } from "vitest";
import { freePort, PROJECT_ROOT, portIsFree } from "../support/localProcesses.ts";

type Outcome = { code: number | null; stdout: string; stderr: string };

/** Runs `node scripts/start.ts` with only the given settings and waits (bounded) for it to exit. */
function runStart(env: Record<string, string>, timeoutMs = 20_000): Promise<Outcome> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ["scripts/start.ts"], {
      cwd: PROJECT_ROOT,
      env: { PATH: process.env.PATH ?? "", HOME: process.env.HOME ?? "", ...env },
      stdio: ["ignore", "pipe", "pipe"],
    });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (chunk: Buffer) => (stdout += chunk));
    child.stderr.on("data", (chunk: Buffer) => (stderr += chunk));
    const timer = setTimeout(() => {
      child.kill("SIGKILL");
      reject(new Error(`start.ts did not exit within ${timeoutMs} ms:\n${stdout}\n${stderr}`));
    }, timeoutMs);
    child.on("exit", (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

describe("npm start refuses bad configuration before starting anything", () => {
  const cases: Array<[string, Record<string, string>, string]> = [
    ["a timeout that is not a number", { MATCH_TIMEOUT_SECONDS: "abc" }, "MATCH_TIMEOUT_SECONDS"],
    ["a JWT secret shorter than 32 bytes", { JWT_SECRET: "short" }, "JWT_SECRET"],
    ["a database URL that is not a URL", { DATABASE_URL: "not-a-url" }, "DATABASE_URL"],
  ];

  it.each(cases)(
    "%s",
    async (_label, settings, key) => {
      const port = await freePort();
      const { code, stdout, stderr } = await runStart({ ...settings, PORT: String(port) });

      expect(code).toBe(1);
      expect(stderr).toMatch(new RegExp(`^Refusing to start: ${key} \\S`, "m"));
      // Nothing was started: no progress lines, and the port it would have served is untouched.
      expect(stdout).not.toContain("▸");
      expect(await portIsFree(port)).toBe(true);
    },
    25_000,
  );
});

import { execFile } from "node:child_process";
import { promisify } from "node:util";
import { decodeJwt } from "jose";
import { describe, expect, it } from "vitest";
import { verifyToken } from "../../src/auth/verifyToken.ts";
import { DEV_JWT_SECRET, parseConfig } from "../../src/config.ts";
import { PROJECT_ROOT } from "../support/localProcesses.ts";

const run = promisify(execFile);

/** Runs `npm run token -- …`'s script with only the given settings; stdout is the token. */
async function mint(args: string[], env: Record<string, string> = {}) {
  return run(process.execPath, ["scripts/token.ts", ...args], {
    cwd: PROJECT_ROOT,
    env: { PATH: process.env.PATH ?? "", ...env },
  });
}

/** The Worker's own verification, under the same settings the script was given. */
function workerConfig(env: Record<string, string>) {
  const parsed = parseConfig({ JWT_SECRET: DEV_JWT_SECRET, ...env });
  if (!parsed.ok) throw new Error(JSON.stringify(parsed.problems));
  return parsed.config;
}

describe("npm run token", () => {
  it("makes an admin of a tenant with a rating that the Worker reads as such", async () => {
    const { stdout } = await mint([
      "alice",
      "--role",
      "admin",
      "--rating",
      "1500",
      "--tenant",
      "acme",
      "--ttl",
      "2h",
    ]);
    const token = stdout.trim();
    const identity = await verifyToken(token, workerConfig({}));
    expect(identity).toMatchObject({ userId: "alice", tenant: "acme", rating: 1500, admin: true });
    const claims = decodeJwt(token);
    expect(claims).toMatchObject({ sub: "alice", role: "admin", rating: 1500, tenant_id: "acme" });
    expect(claims.exp! - claims.iat!).toBe(7200);
  });

  it("puts each claim under the name the Worker is configured to read", async () => {
    const names = {
      JWT_USER_CLAIM: "user_id",
      JWT_ADMIN_CLAIM: "app_role",
      JWT_RATING_CLAIM: "elo",
      JWT_TENANT_CLAIM: "org",
    };
    const { stdout } = await mint(
      ["bob", "--role", "admin", "--rating", "1234", "--tenant", "globex"],
      names,
    );
    const token = stdout.trim();
    expect(decodeJwt(token)).toMatchObject({ user_id: "bob", app_role: "admin", elo: 1234, org: "globex" });
    const identity = await verifyToken(token, workerConfig(names));
    expect(identity).toMatchObject({ userId: "bob", tenant: "globex", rating: 1234, admin: true });
    expect(decodeJwt(token).exp! - decodeJwt(token).iat!).toBe(3600);
  });

  it("--admin is --role admin", async () => {
    const { stdout } = await mint(["dana", "--admin"]);
    expect(await verifyToken(stdout.trim(), workerConfig({}))).toMatchObject({ userId: "dana", admin: true });
  });

  it("a plain token is an unrated user of the default tenant, not an admin", async () => {
    const { stdout } = await mint(["carol", "--ttl", "90s"]);
    const identity = await verifyToken(stdout.trim(), workerConfig({}));
    expect(identity).toMatchObject({ userId: "carol", tenant: "default", rating: null, admin: false });
    const claims = decodeJwt(stdout.trim());
    expect(claims.exp! - claims.iat!).toBe(90);
  });

  it.each([
    [["alice", "--rating", "high"], "--rating must be a number"],
    [["alice", "--admin", "--role", "user"], "ask for two roles"],
    [["alice", "--tenant", "a b"], "--tenant must be"],
    [["alice", "--ttl", "2 weeks"], "--ttl must be"],
    [["alice", "--colour", "red"], "Unknown option"],
    [[], "expected exactly one userId"],
  ])("refuses %j with a usage message and no token", async (args, message) => {
    const failure = await mint(args).then(
      () => undefined,
      (error: { code: number; stdout: string; stderr: string }) => error,
    );
    expect(failure?.code).toBe(2);
    expect(failure?.stdout).toBe("");
    expect(failure?.stderr).toContain(message);
    expect(failure?.stderr).toContain("usage: npm run token");
  });
});

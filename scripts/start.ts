import { type ChildProcess, spawn } from "node:child_process";
import { createServer } from "node:net";
import { join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { type ConfigProblem, configSchema, DEV_JWT_SECRET, parseConfig } from "../src/config.ts";
import { type RunningDatabase, startDatabase } from "./database.ts";
import { migrateDatabase } from "./migrate.ts";

/**
 * `npm start`: validate settings, bring up a database (embedded PGlite unless DATABASE_URL says
 * otherwise), migrate it, and run `wrangler dev` against it until Ctrl-C, a SIGTERM, or the loss
 * of the parent that started it.
 *
 * Settings come from the environment. LOCAL_DATA_DIR (default .data) holds PGlite's files and
 * wrangler's local Durable Object state, so tests can run against a throwaway directory.
 */

const PROJECT_ROOT = fileURLToPath(new URL("..", import.meta.url));
const WRANGLER_BIN = join(PROJECT_ROOT, "node_modules", ".bin", "wrangler");
const HEALTH_PATH = "/api/v1/matching/health";
const READY_TIMEOUT_MS = 120_000;
const STOP_GRACE_MS = 5_000;
const PARENT_CHECK_MS = 250;
const DEFAULT_PORT = 8787;

type Settings = {
  port: number;
  usingDevSecret: boolean;
  jwtSecret: string | undefined;
  dataDir: string;
};

// ---- functional core -------------------------------------------------------------------------

/** Settings `npm start` runs with, or every reason it refuses to. Reads nothing but `env`. */
export function resolveSettings(
  env: Record<string, string | undefined>,
): { ok: true; settings: Settings } | { ok: false; problems: ConfigProblem[] } {
  const usingDevSecret = !env.JWT_SECRET && !env.JWKS_URL;
  const parsed = parseConfig(usingDevSecret ? { ...env, JWT_SECRET: DEV_JWT_SECRET } : env);
  const problems = parsed.ok ? [] : [...parsed.problems];
  const portText = env.PORT?.trim() || String(DEFAULT_PORT);
  const port = /^\d+$/.test(portText) ? Number(portText) : Number.NaN;
  if (!(port >= 1 && port <= 65535))
    problems.push({ key: "PORT", message: "must be a TCP port number (1-65535)" });
  if (!parsed.ok || problems.length > 0) return { ok: false, problems };
  return {
    ok: true,
    settings: {
      port,
      usingDevSecret,
      jwtSecret: parsed.config.JWT_SECRET,
      dataDir: resolve(PROJECT_ROOT, env.LOCAL_DATA_DIR?.trim() || ".data"),
    },
  };
}

/**
 * `--var` flags for the Worker: every config key present in the environment, then what
 * `npm start` itself decided. `--var=K:V` (not `--var K:V`) so a value starting with "-" is not
 * taken for a flag; wrangler splits on the first ":" only, so URLs survive.
 */
export function wranglerVars(
  env: Record<string, string | undefined>,
  decided: { databaseUrl: string; wsProxy: string | undefined; jwtSecret: string | undefined },
): string[] {
  const vars = new Map<string, string>();
  for (const key of Object.keys(configSchema.shape)) {
    const value = env[key];
    if (value !== undefined) vars.set(key, value);
  }
  vars.set("DATABASE_URL", decided.databaseUrl);
  if (decided.wsProxy === undefined) vars.delete("NEON_WS_PROXY");
  else vars.set("NEON_WS_PROXY", decided.wsProxy);
  if (decided.jwtSecret !== undefined) vars.set("JWT_SECRET", decided.jwtSecret);
  vars.set("DEV_TOKENS", "1");
  return [...vars].map(([key, value]) => `--var=${key}:${value}`);
}

const DEV_SECRET_WARNING = [
  "",
  "  ⚠ ─────────────────────────────────────────────────────────────────────────",
  "  ⚠  WARNING: no JWT_SECRET or JWKS_URL is set.",
  "  ⚠  Tokens are signed and checked with the built-in DEVELOPMENT secret,",
  "  ⚠  which is public in this repository. Anyone can mint tokens for it.",
  "  ⚠  Never deploy with it: set JWT_SECRET (>= 32 bytes) or JWKS_URL.",
  "  ⚠ ─────────────────────────────────────────────────────────────────────────",
  "",
].join("\n");

/** What a user needs once the service answers: where everything is and how to get a token. */
export function readyBanner(
  port: number,
  health: { status: number; body: string },
  canMintTokens: boolean,
): string {
  const base = `http://127.0.0.1:${port}`;
  return [
    "",
    `✓ edge-matcher is running on ${base}   (health ${health.status}: ${health.body})`,
    `  Demo page  ${base}/`,
    `  API docs   ${base}/docs`,
    `  HTTP API   ${base}/api/v1/matching   (e.g. GET ${HEALTH_PATH})`,
    `  WebSocket  ws://127.0.0.1:${port}/parties/bucket/easy.arrays?token=<token>`,
    canMintTokens
      ? "  Token      TOKEN=$(npm run -s token -- alice)   (also --role admin --rating 1500 --tenant acme --ttl 2h)"
      : "  Token      from your identity provider (JWKS_URL is set)",
    "  Stop       Ctrl-C, or SIGTERM to this process",
    "",
  ].join("\n");
}

// ---- imperative shell ------------------------------------------------------------------------

function say(line: string): void {
  console.log(line);
}

function portIsFree(port: number): Promise<boolean> {
  return new Promise((done) => {
    const probe = createServer();
    probe.once("error", () => done(false));
    probe.listen(port, "127.0.0.1", () => probe.close(() => done(true)));
  });
}

function sleep(ms: number): Promise<void> {
  return new Promise((done) => setTimeout(done, ms));
}

/** True when no process is left in the group (kill(2) with signal 0 only checks). */
function groupIsGone(pgid: number): boolean {
  try {
    process.kill(-pgid, 0);
    return false;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === "ESRCH";
  }
}

function signalGroup(pgid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(-pgid, signal);
  } catch {
    // Already gone.
  }
}

async function waitUntil(condition: () => boolean, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() >= deadline) return false;
    await sleep(100);
  }
  return true;
}

/**
 * wrangler runs workerd as its own child. Signalling the whole process group (wrangler was
 * spawned detached, so its pid is the group id) reaches workerd even if wrangler dies first.
 */
async function stopProcessGroup(child: ChildProcess): Promise<void> {
  const pgid = child.pid;
  if (pgid === undefined) return;
  signalGroup(pgid, "SIGTERM");
  if (await waitUntil(() => groupIsGone(pgid), STOP_GRACE_MS)) return;
  say("▸ wrangler did not stop in time; killing it");
  signalGroup(pgid, "SIGKILL");
  await waitUntil(() => groupIsGone(pgid), 2_000);
}

/**
 * `npm start` runs us under `sh -c`. A SIGTERM to npm's process (how process managers and
 * containers stop a service) ends npm and its shell without passing the signal on, and we are
 * handed to another parent. A changed parent is taken as that SIGTERM, so nothing keeps serving.
 */
function watchParent(onOrphaned: () => void): void {
  const parent = process.ppid;
  const timer = setInterval(() => {
    if (process.ppid === parent) return;
    clearInterval(timer);
    onOrphaned();
  }, PARENT_CHECK_MS);
  timer.unref();
}

type HealthAnswer = { status: number; body: string };

async function askHealth(url: string): Promise<HealthAnswer | undefined> {
  try {
    const response = await fetch(url, { signal: AbortSignal.timeout(3_000) });
    return { status: response.status, body: (await response.text()).slice(0, 200) };
  } catch {
    return undefined;
  }
}

async function main(): Promise<void> {
  const env = process.env;
  const resolved = resolveSettings(env);
  if (!resolved.ok) {
    for (const p of resolved.problems) console.error(`Refusing to start: ${p.key} ${p.message}`);
    process.exit(1);
  }
  const { settings } = resolved;
  if (!(await portIsFree(settings.port))) {
    console.error(`Refusing to start: PORT ${settings.port} is already in use on 127.0.0.1`);
    process.exit(1);
  }
  if (settings.usingDevSecret) console.error(DEV_SECRET_WARNING);

  let database: RunningDatabase | undefined;
  let wrangler: ChildProcess | undefined;
  let stopRequested = false;
  let stoppingWrangler: Promise<void> | undefined;

  const stopAll = async (): Promise<void> => {
    if (wrangler) {
      const child = wrangler;
      stoppingWrangler ??= stopProcessGroup(child);
      await stoppingWrangler;
    }
    await database?.stop();
  };
  const exitAfterStop = async (code: number): Promise<never> => {
    await stopAll().catch((error: unknown) => console.error(`✗ while stopping: ${String(error)}`));
    process.exit(code);
  };
  const onSignal = (reason: string) => {
    if (stopRequested) return;
    stopRequested = true;
    say(`\n▸ ${reason}: stopping`);
    // Before wrangler exists, a start-up step is in flight; the main flow stops what that step
    // started once it returns, so nothing it created (like an open PGlite) is left unclosed.
    if (wrangler) void exitAfterStop(0);
  };
  process.on("SIGINT", onSignal);
  process.on("SIGTERM", onSignal);
  process.on("SIGHUP", onSignal);
  watchParent(() => onSignal("the parent process is gone"));
  // Once our parent is gone, so may be the pipe we print to; a failed write must not stop the stop.
  for (const stream of [process.stdout, process.stderr]) stream.on("error", () => {});

  try {
    const databaseUrl = env.DATABASE_URL?.trim() || undefined;
    const pgliteDir = join(settings.dataDir, "pglite");
    say(
      databaseUrl === undefined
        ? `▸ starting embedded PostgreSQL (PGlite) at ${pgliteDir}`
        : `▸ connecting to DATABASE_URL host ${new URL(databaseUrl).host}`,
    );
    database = await startDatabase({ databaseUrl, dataDir: pgliteDir });
    // A signal that arrived while we were starting something: stop what now exists.
    if (stopRequested) return await exitAfterStop(0);
    if (database.wsProxy) say(`▸ WebSocket bridge for the Neon driver on ${database.wsProxy}`);

    say("▸ applying migrations");
    const { applied } = await migrateDatabase(database.databaseUrl, database.wsProxy);
    say(applied.length === 0 ? "  (already up to date)" : `  applied ${applied.join(", ")}`);
    if (stopRequested) return await exitAfterStop(0);

    const persistTo = join(settings.dataDir, "wrangler");
    say(`▸ starting wrangler dev on :${settings.port} (local state in ${persistTo})`);
    const args = [
      WRANGLER_BIN,
      "dev",
      // The bench's rows phase runs the same Worker through an entry that counts what each
      // Durable Object writes (bench/storage/worker.ts); never set otherwise.
      ...(env.BENCH_WORKER_ENTRY ? [env.BENCH_WORKER_ENTRY] : []),
      "--port",
      String(settings.port),
      "--ip",
      "127.0.0.1",
      "--persist-to",
      persistTo,
      // wrangler is in its own process group (below), i.e. in the background as far as the
      // terminal is concerned: its interactive hotkeys would read the TTY and get it stopped
      // with SIGTTIN, so they are off and stdin is not passed on. Ctrl-C reaches us instead.
      "--show-interactive-dev-session=false",
      ...wranglerVars(env, {
        databaseUrl: database.databaseUrl,
        wsProxy: database.wsProxy,
        jwtSecret: settings.jwtSecret,
      }),
    ];
    const child = spawn(process.execPath, args, {
      cwd: PROJECT_ROOT,
      detached: true,
      stdio: ["ignore", "inherit", "inherit"],
      env: {
        // wrangler dev's local observability streams a trace of every invocation (each request,
        // RPC and socket event) to a collector worker in the same runtime; production has no
        // such thing in-process, and it cost about a sixth of the runtime's CPU per join.
        // `X_LOCAL_OBSERVABILITY=true npm start` turns it back on.
        X_LOCAL_OBSERVABILITY: "false",
        // Nothing in the service reads `request.cf`; fetching its sample from Cloudflare only
        // prints two stack traces on a machine without internet. The banner's update check
        // would reach the registry on every start; ours below says what a user needs.
        CLOUDFLARE_CF_FETCH_ENABLED: "false",
        WRANGLER_HIDE_BANNER: "true",
        ...env,
        WRANGLER_SEND_METRICS: "false",
      },
    });
    wrangler = child;
    let wranglerExit: number | undefined;
    child.on("exit", (code, signal) => {
      wranglerExit = code ?? 1;
      if (stopRequested) return;
      stopRequested = true;
      say(`▸ wrangler exited (${signal ?? `code ${code}`}); stopping`);
      void exitAfterStop(wranglerExit);
    });
    child.on("error", (error) => {
      if (stopRequested) return;
      stopRequested = true;
      console.error(`✗ could not run wrangler: ${error.message}`);
      void exitAfterStop(1);
    });

    const base = `http://127.0.0.1:${settings.port}`;
    const deadline = Date.now() + READY_TIMEOUT_MS;
    let health: HealthAnswer | undefined;
    while (!stopRequested && wranglerExit === undefined && Date.now() < deadline) {
      health = await askHealth(`${base}${HEALTH_PATH}`);
      if (health) break;
      await sleep(250);
    }
    if (stopRequested || wranglerExit !== undefined) return;
    if (!health) {
      stopRequested = true;
      console.error(`✗ ${base}${HEALTH_PATH} did not answer within ${READY_TIMEOUT_MS / 1000}s; stopping`);
      return await exitAfterStop(1);
    }

    say(readyBanner(settings.port, health, settings.jwtSecret !== undefined));
  } catch (error) {
    if (stopRequested) {
      if (!wrangler) await exitAfterStop(0);
      return;
    }
    stopRequested = true;
    console.error(`✗ ${error instanceof Error ? error.message : String(error)}`);
    await exitAfterStop(1);
  }
}

if (import.meta.main) void main();

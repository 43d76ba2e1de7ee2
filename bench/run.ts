import { copyFileSync, existsSync, mkdirSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { cpus, release, totalmem } from "node:os";
import { join } from "node:path";
import { performance } from "node:perf_hooks";
import { setTimeout as sleep } from "node:timers/promises";
import { parseArgs } from "node:util";
import { mintDevToken } from "../src/auth/devToken.ts";
import { DEV_JWT_SECRET } from "../src/config.ts";
import { type CoreResult, coreBench } from "./core.ts";
import { type DbCounters, DbProbe } from "./db.ts";
import { bestSustained, compareToFloor, vsFloorSummary } from "./figures.ts";
import type { IncompatibleJoinResult } from "./incompatible.ts";
import { type IncompatibleCoreResult, incompatibleCoreBench } from "./incompatibleCore.ts";
import { runIncompatibleJoins } from "./incompatiblePhase.ts";
import { Inspector } from "./inspector.ts";
import { type MultiBucketResult, runMultiBucketJoins } from "./multiBucketPhase.ts";
import { pool } from "./pool.ts";
import { type FdStats, fdStats } from "./proc.ts";
import { Progress } from "./progress.ts";
import {
  renderRows,
  renderSvg,
  renderTable,
  renderVsFloor,
  rowsSummary,
  summaryLine,
  TARGETS_MEASURED,
  type VsFloorResults,
} from "./report.ts";
import type { MemorySeries, PhaseResult, Results, SinglePairResult, Target } from "./results.ts";
import type { RowsResult } from "./rows.ts";
import { ROWS_STACK_ENV, type RowsPlan, runRowsPhase } from "./rowsPhase.ts";
import {
  externalStack,
  type Floor,
  PROJECT_ROOT,
  type ProcSnapshot,
  type Role,
  type Stack,
  startStack,
} from "./stack.ts";
import { analyze, dist } from "./stats.ts";
import { SimUser } from "./users.ts";

/**
 * `npm run bench [-- --quick] [-- --url http://host:port --secret S]`
 *
 * Starts the stack `npm start` runs (or targets --url), then drives it with real WebSocket
 * clients holding real JWTs: a warm-up, single pairs one at a time, a simultaneous burst, a
 * steady join rate that steps up, then memory: idle sockets held in ONE bucket (matched pairs
 * sitting in the confirmation window, the primary figure) and, secondary, waiting sockets each
 * alone in a bucket of its own (which measures Durable Object instances more than sockets), and
 * last joins into a bucket where nobody waiting fits anybody (the service only). Writes a table to stdout, full results to
 * bench/results/<timestamp>.json, the latency chart to bench/results/<timestamp>.svg and
 * bench/latency.svg, and ends stdout with one JSON summary line. `--vs-floor` does all of that
 * twice, on the bare runtime floor and then on the service, and compares the two.
 */

const USAGE = `usage: npm run bench -- [--quick] [--vs-floor | --floor bare|claim | --url http://127.0.0.1:8787 [--secret S] [--server-pid PID]]
  --quick            small counts, finishes in about a minute
  --url URL          target a running server instead of starting one (tokens need --secret)
  --secret S         HS256 secret the server checks tokens with (default: the dev secret)
  --server-pid PID   with --url: root of the server's process tree, for memory and CPU figures
  --rates LIST       steady join rates to step through, e.g. 100,250,500,1000,1500
  --returning LIST   steady rates joined by users who played earlier in the run, e.g. 25,50,100
  --step-seconds N   seconds per steady step
  --hold LIST        primary memory figure: matched-but-unconfirmed sockets held in one bucket,
                     e.g. 1000,5000,10000 (cumulative levels)
  --idle LIST        secondary memory figure: waiting sockets, one bucket each, e.g. 1000
  --incompatible N   joiners into the incompatible bucket (1,000 interviewers waiting, rated so
                     that each joiner fits only the newest); 0 skips the phase. Service only:
                     the floor has no roles or ratings, so --vs-floor runs it on the service side
  --floor bare|claim bench the runtime floor (bench/floor/) instead of the service: the same
                     protocol with none of our work ("bare"), or plus one per-user Durable
                     Object write per join ("claim"); the gap to the service is ours
  --vs-floor         run the bare floor and then the service, same plan, in one invocation, and
                     compare them against the targets (sustained >= 0.7x floor, burst p50 <=
                     1.5x, CPU/join <= 1.5x, RSS per 1,000 idle <= 1.2x, single pair <= floor
                     + 3 ms); the last line gains the floor's figures and the ratios (service /
                     floor; single pair: service - floor, ms). Not with --floor or --url.
                     With --quick it takes about two minutes.
  --via-proxy        connect through wrangler's dev proxy (the port npm start prints) instead of
                     straight to the runtime workerd; the proxy relays every socket in a second
                     workerd, which production does not have
  --no-chart-copy    do not overwrite bench/latency.svg
  --rows-only        only the rows phase: rows written and object requests per confirmed match,
                     per cancelled and per timed-out request, by class and table, the prune
                     included, and the price per million matches (its own server, metered)
  --no-rows          skip the rows phase
Figures on the last line:
  sustainedJoinsPerSec  highest steady rate whose hot-bucket p99 join -> match_found stayed under
                        50 ms with nobody lost (all matched and ready, no errors, not overloaded)
                        and the client offering >= 90 % of the rate
  burstP50Ms/P99Ms      the burst's hot users (100 with --quick), each from its own join start to
                        its match_found; burstMatched of burstUsers got one (the rest: unmatched)
  cpuMsPerJoin          runtime workerd CPU (/proc) per join over the steady steps not stopped as
                        overloaded (with --vs-floor: the rates neither run overloaded), each from
                        its first join until the server is quiet after it
  singlePairMs          median second join -> its match_found, pairs one at a time, each alone in
                        a fresh bucket
  incompatibleJoinP50Ms/P99Ms  each joiner's join start -> its match_found in a bucket where 1,000
                        interviewers wait and it fits only the newest (it looks at all of them);
                        null unless every joiner paired so; incompatibleJoinVsSinglePairMs = its
                        p50 - singlePairMs
  coreIncompatibleJoinUs the same join in the pure core in this process, µs (coreFifoJoinUs: the
                        join that completes a FIFO pair, timed the same way)
  rowsPerMatch          SQLite rows written (index entries, KV keys and alarms included) per
                        confirmed match, every Durable Object class, the prune included; each pair
                        alone in its bucket (rowsPerMatchBusy: a burst into one bucket)
  rowsPerMatchWithChannels   the quiet match with both users' own channel open (and its requests)
  rowsPerCancelled/TimedOut  the same per request that left / whose queue time ran out
  requestsPerMatch      Durable Object requests per confirmed match as billed (WebSocket messages 20:1)
  usdPerMillionMatches  rowsPerMatch and requestsPerMatch at list prices (bench/prices.ts)`;

type Plan = {
  coreMs: number;
  warmupPairs: number;
  /** Pairs run one at a time, each in a quiet bucket of its own (the single-pair latency). */
  singlePairs: number;
  /** Interviewers waiting in the incompatible bucket (bench/incompatible.ts), core and end to end. */
  incompatibleWaiting: number;
  /** Joiners into it end to end, one at a time; 0 skips the phase. */
  incompatibleJoiners: number;
  /** Flexible requests: users joining with 2-4 buckets each across `multiBucketBuckets` (0 skips). */
  multiBucketUsers: number;
  multiBucketBuckets: number;
  /** Primary memory figure: sockets held in one bucket (matched, not confirming), cumulative. */
  holdLevels: number[];
  /** Time box for the held sockets (all levels together). */
  holdBudgetMs: number;
  /** Joins in flight at once while opening held sockets. */
  holdConcurrency: number;
  /** Secondary memory figure: waiting sockets, each in a bucket of its own. */
  idleLevels: number[];
  burstHotPairs: number;
  burstColdPairs: number;
  rates: number[];
  /** Steady rates again, joined by users who played earlier in the run (their registries exist). */
  returningRates: number[];
  stepSeconds: number;
  /** Extra joins into cold buckets during steady steps, as a share of the hot rate (in pairs). */
  coldShare: number;
  /** A step stops starting joins once this many are unfinished: the server is not keeping up. */
  maxInFlight: number;
  /** How long a phase waits for its last users before they leave. */
  drainMs: number;
  /** Time box for opening idle sockets (all levels together). */
  idleBudgetMs: number;
  /** Wait after each memory level for workerd to evict the idle actors (10 s), then read again. */
  hibernateWaitMs: number;
  /** The rows phase (bench/rowsPhase.ts): outcomes per scenario. */
  rows: RowsPlan;
};

const FULL: Plan = {
  coreMs: 1500,
  warmupPairs: 60,
  singlePairs: 20,
  incompatibleWaiting: 1000,
  incompatibleJoiners: 200,
  multiBucketUsers: 400,
  multiBucketBuckets: 10,
  holdLevels: [1000, 5000, 10000],
  holdBudgetMs: 230_000,
  holdConcurrency: 50,
  idleLevels: [500],
  burstHotPairs: 250,
  burstColdPairs: 50,
  rates: [25, 50, 100, 250, 500, 1000, 1500],
  returningRates: [25, 50, 100],
  stepSeconds: 4,
  coldShare: 0.1,
  maxInFlight: 500,
  drainMs: 15_000,
  idleBudgetMs: 60_000,
  hibernateWaitMs: 14_000,
  rows: { quietPairs: 20, busyPairs: 50, cancelled: 20, timedOut: 20 },
};

const QUICK: Plan = {
  coreMs: 400,
  warmupPairs: 20,
  singlePairs: 20,
  // The incompatible bucket in full; fewer joiners, each a single pair's time or so.
  incompatibleWaiting: 1000,
  incompatibleJoiners: 50,
  multiBucketUsers: 200,
  multiBucketBuckets: 10,
  // 1,000: the least the per-1,000 figure is read at with a verdict (below, the RSS delta is
  // within noise). Opened in a few seconds; read with the actors in memory (no 14 s wait).
  holdLevels: [1000],
  holdBudgetMs: 15_000,
  holdConcurrency: 50,
  idleLevels: [100],
  // The burst: 100 users into one bucket at once (plus 20 in cold buckets).
  burstHotPairs: 50,
  burstColdPairs: 10,
  // From 25/s as the full plan, so a 50/s step that misses the bar leaves a lower rate to count.
  rates: [25, 50, 100, 200, 500],
  returningRates: [],
  stepSeconds: 1,
  coldShare: 0.1,
  maxInFlight: 200,
  drainMs: 6_000,
  idleBudgetMs: 8_000,
  hibernateWaitMs: 0,
  // Row counts do not vary from one outcome to the next: a few of each are enough.
  rows: { quietPairs: 5, busyPairs: 10, cancelled: 5, timedOut: 5 },
};

function parseList(text: string | undefined, fallback: number[]): number[] {
  if (!text) return fallback;
  if (text.trim() === "0" || text.trim() === "none") return [];
  const list = text.split(",").map((s) => Number(s.trim()));
  if (list.some((n) => !Number.isFinite(n) || n <= 0)) throw new Error(`bad list: ${text}`);
  return list;
}

type Values = {
  url?: string | undefined;
  "server-pid"?: string | undefined;
  "via-proxy"?: boolean | undefined;
};

async function main(): Promise<number> {
  const { values } = parseArgs({
    options: {
      quick: { type: "boolean", default: false },
      url: { type: "string" },
      secret: { type: "string" },
      "server-pid": { type: "string" },
      rates: { type: "string" },
      returning: { type: "string" },
      "step-seconds": { type: "string" },
      hold: { type: "string" },
      idle: { type: "string" },
      incompatible: { type: "string" },
      "no-chart-copy": { type: "boolean", default: false },
      floor: { type: "string" },
      "vs-floor": { type: "boolean", default: false },
      "via-proxy": { type: "boolean", default: false },
      "rows-only": { type: "boolean", default: false },
      "no-rows": { type: "boolean", default: false },
      help: { type: "boolean", default: false },
    },
    allowPositionals: false,
  });
  if (values.help) {
    console.error(USAGE);
    return 0;
  }
  const base = values.quick ? QUICK : FULL;
  const plan: Plan = {
    ...base,
    rates: parseList(values.rates, base.rates),
    returningRates: parseList(values.returning, base.returningRates),
    holdLevels: parseList(values.hold, base.holdLevels),
    idleLevels: parseList(values.idle, base.idleLevels),
    stepSeconds: values["step-seconds"] ? Number(values["step-seconds"]) : base.stepSeconds,
    incompatibleJoiners: values.incompatible ? Number(values.incompatible) : base.incompatibleJoiners,
  };
  if (!Number.isInteger(plan.incompatibleJoiners) || plan.incompatibleJoiners < 0) {
    console.error(`--incompatible takes a whole number of joiners, not ${values.incompatible}\n${USAGE}`);
    return 2;
  }
  const floor = values.floor;
  const vsFloor = values["vs-floor"];
  if (floor !== undefined && floor !== "bare" && floor !== "claim") {
    console.error(`--floor takes bare or claim, not ${floor}\n${USAGE}`);
    return 2;
  }
  if (vsFloor && (floor !== undefined || values.url !== undefined)) {
    console.error(
      `--vs-floor runs the bare floor and then the service, both started here; it cannot be combined with ${floor !== undefined ? "--floor" : "--url"}\n${USAGE}`,
    );
    return 2;
  }
  if (floor && values.url) {
    console.error(`--floor starts its own server; it cannot be combined with --url\n${USAGE}`);
    return 2;
  }
  const rowsOnly = values["rows-only"];
  // Rows need the metered entry, which only a server started here runs.
  const withRows = !values["no-rows"] && floor === undefined && values.url === undefined;
  if (rowsOnly && !withRows) {
    console.error(`--rows-only starts its own server; not with --url, --floor or --no-rows\n${USAGE}`);
    return 2;
  }
  const secret = values.secret ?? process.env.JWT_SECRET ?? DEV_JWT_SECRET;
  const date = new Date();
  const stamp = date.toISOString().replace(/[:.]/g, "-");
  const resultsDir = join(PROJECT_ROOT, "bench", "results");
  mkdirSync(resultsDir, { recursive: true });
  const progress = new Progress();
  const command = `npm run bench${process.argv.length > 2 ? ` -- ${process.argv.slice(2).join(" ")}` : ""}`;
  const wallStart = performance.now();
  const rowsLogPath = join(resultsDir, `${stamp}.rows.server.log`);

  if (rowsOnly) {
    const rows = await measureRows({ plan, secret, progress, logPath: rowsLogPath });
    const jsonPath = join(resultsDir, `${stamp}.rows.json`);
    writeFileSync(jsonPath, `${JSON.stringify({ date: date.toISOString(), command, rows }, null, 2)}\n`);
    process.stdout.write(`${renderRows(rows)}\nfull results: ${jsonPath}\n`);
    process.stdout.write(`${JSON.stringify({ date: date.toISOString(), ...rowsSummary(rows) })}\n`);
    return 0;
  }

  // 1. The pure core, before anything else competes for the CPU (once, also for --vs-floor).
  progress.start("core micro-benchmark", 1);
  const core: CoreResult[] = coreBench(plan.coreMs);
  progress.end(`${core[0]?.pairsPerSec} pairs/s`);
  progress.start(`core: joins into ${plan.incompatibleWaiting} waiting that fit only the newest`, 1);
  const coreIncompatible = incompatibleCoreBench(plan.incompatibleWaiting, plan.coreMs);
  progress.end(
    `${coreIncompatible.usPerIncompatibleJoin} µs per join (FIFO pairing join ${coreIncompatible.usPerFifoJoin} µs)`,
  );

  const onSignal = (signal: NodeJS.Signals) => {
    progress.log(`${signal}: stopping`);
    void stopActiveStack(progress).finally(() => process.exit(130));
  };
  process.once("SIGINT", onSignal);
  process.once("SIGTERM", onSignal);

  const context = { values, plan, secret, command, core, coreIncompatible, progress };
  const jsonPath = join(resultsDir, `${stamp}.json`);
  const svgPath = join(resultsDir, `${stamp}.svg`);
  const chartCopy = () => {
    if (!values["no-chart-copy"]) copyFileSync(svgPath, join(PROJECT_ROOT, "bench", "latency.svg"));
  };

  if (!vsFloor) {
    const results = await measure({
      ...context,
      floor,
      logPath: join(resultsDir, `${stamp}.server.log`),
      skipReturning: false,
    });
    results.rows = withRows ? await measureRows({ plan, secret, progress, logPath: rowsLogPath }) : null;
    writeFileSync(jsonPath, `${JSON.stringify(results, null, 2)}\n`);
    writeFileSync(svgPath, renderSvg(results));
    chartCopy();
    process.stdout.write(renderTable(results, { jsonPath, svgPath }));
    process.stdout.write(`${JSON.stringify(summaryLine(results))}\n`);
    return 0;
  }

  // --vs-floor: the bare floor, then the service, with the same plan; the floor skips what it
  // cannot show (database counters: it keeps no records; returning users: it keeps no per-user
  // state, so they would be new users again).
  progress.log("--vs-floor: 1 of 2, the bare runtime floor (bench/floor/)");
  const floorResults = await measure({
    ...context,
    floor: "bare",
    logPath: join(resultsDir, `${stamp}.floor.server.log`),
    skipReturning: true,
  });
  progress.log("--vs-floor: 2 of 2, the service");
  const serviceResults = await measure({
    ...context,
    floor: undefined,
    logPath: join(resultsDir, `${stamp}.server.log`),
    skipReturning: false,
  });
  serviceResults.rows = withRows ? await measureRows({ plan, secret, progress, logPath: rowsLogPath }) : null;
  const comparison = compareToFloor(serviceResults, floorResults);
  const wallSeconds = round2((performance.now() - wallStart) / 1000);
  const combined: VsFloorResults = {
    date: date.toISOString(),
    command,
    wallSeconds,
    vsFloor: comparison,
    service: serviceResults,
    floor: floorResults,
  };
  writeFileSync(jsonPath, `${JSON.stringify(combined, null, 2)}\n`);
  writeFileSync(svgPath, renderSvg(serviceResults));
  chartCopy();
  process.stdout.write(renderTable(serviceResults, { jsonPath, svgPath }));
  process.stdout.write(renderVsFloor(combined));
  process.stdout.write(
    `${JSON.stringify({ ...summaryLine(serviceResults), ...vsFloorSummary(comparison), wallSeconds })}\n`,
  );
  return 0;
}

/** The server being measured now, so a signal can stop it. */
let activeStack: Stack | undefined;

async function stopActiveStack(progress: Progress): Promise<void> {
  const s = activeStack;
  activeStack = undefined;
  if (s?.owned) {
    progress.log("stopping the server (process group)");
    await s.stop();
  }
}

/**
 * The rows phase on a server of its own: the metered entry, a short queue timeout (so requests
 * time out within the phase), throwaway state.
 */
async function measureRows(context: {
  plan: Plan;
  secret: string;
  progress: Progress;
  logPath: string;
}): Promise<RowsResult> {
  const { plan, secret, progress } = context;
  const runId = Math.random().toString(36).slice(2, 8);
  progress.start("starting a metered server for the rows phase", 1);
  activeStack = await startStack({
    secret,
    logPath: context.logPath,
    env: ROWS_STACK_ENV,
    onLine: (l) => progress.log(l),
    floor: undefined,
  });
  const s = activeStack;
  progress.end(s.base);
  let users = 0;
  let rooms = 0;
  try {
    return await runRowsPhase({
      base: s.base,
      wsBase: s.base.replace(/^http/, "ws"),
      plan: plan.rows,
      mint: async (tag, count) => {
        const ids = Array.from({ length: count }, () => `rows-${runId}-${tag}-${++users}`);
        const tokens = await Promise.all(ids.map((id) => mintDevToken(secret, id, { ttlSeconds: 7200 })));
        return ids.map((id, i) => ({ id, token: tokens[i]! }));
      },
      freshRoom: () => `medium.r${runId}-${++rooms}`,
      progress,
    });
  } finally {
    await stopActiveStack(progress);
  }
}

type MeasureContext = {
  values: Values;
  plan: Plan;
  secret: string;
  command: string;
  core: CoreResult[];
  coreIncompatible: IncompatibleCoreResult;
  progress: Progress;
  /** The floor to run instead of the service (undefined: the service). */
  floor: Floor | undefined;
  logPath: string;
  /** Leave out the returning-users steps (the floor under --vs-floor). */
  skipReturning: boolean;
};

/** One run against one server (started here, or --url): every phase, then its Results. */
async function measure(context: MeasureContext): Promise<Results> {
  const { values, plan, secret, command, core, coreIncompatible, progress, floor } = context;
  const target: Target =
    floor === "bare"
      ? TARGETS_MEASURED.floor
      : floor === "claim"
        ? TARGETS_MEASURED.floorClaim
        : TARGETS_MEASURED.service;
  const date = new Date();
  const runId = Math.random().toString(36).slice(2, 8);
  const wallStart = performance.now();
  const clientCpuStart = process.cpuUsage();

  // 2. The server.
  const stopStack = () => stopActiveStack(progress);
  let logOffset = 0;

  const phases: PhaseResult[] = [];
  const memoryHeld: MemorySeries = {
    what: "matched-but-unconfirmed sockets held by ONE bucket actor (pairs in the confirmation window)",
    baselineWorkerdMb: null,
    baselineRolesMb: {},
    levels: [],
  };
  const memoryEach: MemorySeries = {
    what: "waiting sockets, each alone in a bucket of its own (measures Durable Object instances: one bucket + one registry per socket)",
    baselineWorkerdMb: null,
    baselineRolesMb: {},
    levels: [],
  };
  let dbBefore: DbCounters | undefined;
  let dbAfter: DbCounters | undefined;
  let dbIdleBefore: DbCounters | undefined;
  let dbIdleAfter: DbCounters | undefined;
  let dbProblem: string | undefined;
  let serverInfo: Record<string, unknown> = {};
  let singlePair: SinglePairResult | null = null;
  let incompatibleJoin: IncompatibleJoinResult | null = null;
  let multiBucket: MultiBucketResult | null = null;
  // Long windows so nothing held or waiting expires during the memory phases.
  const stackEnv = { MATCH_TIMEOUT_SECONDS: "900", CONFIRM_TIMEOUT_SECONDS: "600" };
  try {
    if (values.url) {
      activeStack = externalStack(
        values.url,
        values["server-pid"] ? Number(values["server-pid"]) : undefined,
      );
      progress.log(`targeting ${activeStack.base}`);
    } else {
      progress.start(floor ? `starting the runtime floor (${floor})` : "starting server (npm start)", 1);
      const logPath = context.logPath;
      logOffset = existsSync(logPath) ? statSync(logPath).size : 0;
      activeStack = await startStack({
        secret,
        logPath,
        env: stackEnv,
        onLine: (l) => progress.log(l),
        floor,
        viaProxy: values["via-proxy"],
      });
      progress.end(activeStack.base);
    }
    const s = activeStack;
    const wsBase = s.base.replace(/^http/, "ws");
    const snap0 = s.snapshot();
    serverInfo = {
      base: s.base,
      viaProxy: s.viaProxy,
      owned: s.owned,
      log: s.logPath,
      processes: Object.fromEntries(
        Object.entries(snap0.roles).map(([role, f]) => [role, { pids: f.pids, rssMb: mb(f.rssKb) }]),
      ),
      settings: s.owned ? stackEnv : {},
    };
    const db = s.databaseUrl ? new DbProbe(s.databaseUrl, s.wsProxy) : undefined;
    if (!db) dbProblem = floor ? "the floor keeps no records" : "no DATABASE_URL known for this server";

    /** Tokens for `ids`; `claims(i)` adds claims to the i-th (a rating, say). */
    const mint = async (ids: string[], label: string, claims?: (i: number) => Record<string, unknown>) => {
      progress.start(`minting tokens (${label})`, ids.length);
      const out: string[] = [];
      for (let i = 0; i < ids.length; i += 500) {
        const chunk = ids.slice(i, i + 500);
        out.push(
          ...(await Promise.all(
            chunk.map((id, c) =>
              mintDevToken(secret, id, { ttlSeconds: 7200, claims: claims?.(i + c) ?? {} }),
            ),
          )),
        );
        progress.set(out.length);
      }
      progress.end();
      return out;
    };
    const settle = () => waitForQuiet(s, progress);

    const topic = (suffix: string) => `b${runId}-${suffix}`;
    const hotRoom = `medium.${topic("hot")}`;
    const difficulties = ["easy", "medium", "hard"] as const;
    let coldCounter = 0;
    const coldRoom = () => {
      const n = coldCounter++;
      return `${difficulties[n % 3]}.${topic(`c${n}`)}`;
    };
    let userCounter = 0;
    /** Users who played a whole match earlier in the run, for the returning-users steps. */
    const veterans: SimUser[] = [];
    const newId = (tag: string) => `bench-${runId}-${tag}-${++userCounter}`;

    /** Users for a phase: `hotPairs` pairs in the hot bucket and `coldPairs` in fresh cold ones. */
    const makeUsers = async (tag: string, hotPairs: number, coldPairs: number) => {
      const hotIds = Array.from({ length: hotPairs * 2 }, () => newId(`${tag}h`));
      const coldIds = Array.from({ length: coldPairs * 2 }, () => newId(`${tag}c`));
      const tokens = await mint([...hotIds, ...coldIds], tag);
      const hot = hotIds.map((id, i) => new SimUser(id, hotRoom, tokens[i]!));
      const cold: SimUser[] = [];
      for (let i = 0; i < coldIds.length; i += 2) {
        const room = coldRoom();
        cold.push(new SimUser(coldIds[i]!, room, tokens[hotIds.length + i]!));
        cold.push(new SimUser(coldIds[i + 1]!, room, tokens[hotIds.length + i + 1]!));
      }
      return { hot, cold };
    };

    const runPhase = async (
      name: string,
      kind: PhaseResult["kind"],
      targetRate: number | null,
      hot: SimUser[],
      cold: SimUser[],
      schedule: Array<{ user: SimUser; at: number }>,
    ): Promise<PhaseResult> => {
      const before = s.snapshot();
      const clientBefore = process.cpuUsage();
      const started = performance.now();
      progress.start(name, schedule.length);
      const outcome = await drive(wsBase, schedule, progress, plan);
      const wallSeconds = (performance.now() - started) / 1000;
      const hotFigures = analyze(hot);
      const coldFigures = cold.length > 0 ? analyze(cold) : null;
      progress.end(
        `p99 ${hotFigures.bothFromJoin?.p99 ?? "-"} ms, ${hotFigures.servedJoinsPerSec} joins/s${outcome.overloaded ? " (overloaded)" : ""}`,
      );
      // The CPU window runs on until the server is quiet again, so work the phase deferred (the
      // outbox delivers its records a second later) is charged to it and not to the next phase.
      await settle();
      const clientCpu = process.cpuUsage(clientBefore);
      const after = s.snapshot();
      const joins = hot.length + cold.length;
      const serverMs = cpuDelta(before, after);
      const serverTotal =
        (serverMs["workerd-runtime"] ?? 0) + (serverMs["workerd-proxy"] ?? 0) + (serverMs.wrangler ?? 0);
      const clientMs = (clientCpu.user + clientCpu.system) / 1000;
      return {
        name,
        kind,
        targetRate,
        hot: hotFigures,
        cold: coldFigures,
        overloaded: outcome.overloaded,
        wallSeconds: round2(wallSeconds),
        cpu: {
          clientMs: Math.round(clientMs),
          serverMs,
          serverUsPerJoin: Object.keys(serverMs).length > 0 ? Math.round((serverTotal * 1000) / joins) : null,
          clientUsPerJoin: Math.round((clientMs * 1000) / joins),
        },
      };
    };

    /** `pairs` pairs one after the other, each pair alone in a fresh bucket. */
    const runSinglePairs = async (pairs: number): Promise<SinglePairResult> => {
      const ids = Array.from({ length: pairs * 2 }, () => newId("p"));
      const tokens = await mint(ids, "single pairs");
      const started = performance.now();
      progress.start("single pairs, one at a time", pairs);
      const secondJoinToFound: number[] = [];
      let failed = 0;
      const errorKinds: Record<string, number> = {};
      for (let i = 0; i < pairs; i++) {
        const room = coldRoom();
        const first = new SimUser(ids[2 * i]!, room, tokens[2 * i]!);
        const second = new SimUser(ids[2 * i + 1]!, room, tokens[2 * i + 1]!);
        const firstDone = first.start(wsBase, "confirm");
        // The second joins once the first is queued, so the bucket is live and holds one waiter.
        const queuedBy = performance.now() + 5_000;
        while (Number.isNaN(first.tQueued) && first.error === undefined && performance.now() < queuedBy)
          await sleep(1);
        const both = Promise.all([firstDone, second.start(wsBase, "confirm")]);
        const late = await Promise.race([both.then(() => false), sleep(5_000).then(() => true)]);
        if (late) {
          for (const u of [first, second]) {
            u.error ??= "single pair unfinished after 5 s";
            u.terminate();
          }
        }
        // The second joined once the first was queued, so its join is the one that made the pair.
        const inOrder = first.tQueued < second.tJoin;
        const paired = first.matched && second.matched && first.matchId === second.matchId;
        if (paired && inOrder) secondJoinToFound.push(second.tFound - second.tJoin);
        else {
          failed++;
          const why = (u: SimUser) =>
            u.error ?? (u.matched ? `matched (queued at ${u.queuedPosition})` : "no match_found");
          const kind = `first: ${why(first)}; second: ${why(second)}`.replace(/\d{4,}/g, "N");
          errorKinds[kind] = (errorKinds[kind] ?? 0) + 1;
        }
        progress.set(i + 1);
      }
      const figure = dist(secondJoinToFound);
      progress.end(`p50 ${figure?.p50 ?? "-"} ms`);
      await settle();
      return {
        pairs,
        failed,
        errorKinds,
        secondJoinToFound: figure,
        samples: secondJoinToFound.map(round2),
        wallSeconds: round2((performance.now() - started) / 1000),
      };
    };

    // 3. Warm-up: code paths compiled, the hot bucket's actor created.
    {
      const { hot, cold } = await makeUsers("w", plan.warmupPairs, Math.ceil(plan.warmupPairs / 4));
      const schedule = [...hot, ...cold].map((user, i) => ({ user, at: i * 4 }));
      phases.push(await runPhase("warm-up", "warmup", null, hot, cold, schedule));
    }

    // 4. A single pair at a time, each in a fresh (quiet) bucket: the latency of one match with
    // nothing else going on, i.e. the least a join costs. The second join -> its match_found.
    if (plan.singlePairs > 0) singlePair = await runSinglePairs(plan.singlePairs);

    if (db) {
      dbBefore = await db.read();
      if (!dbBefore) dbProblem = db.problem;
    }

    // 5. A simultaneous burst: every socket opened at once, hot and cold buckets mixed.
    {
      const { hot, cold } = await makeUsers("b", plan.burstHotPairs, plan.burstColdPairs);
      const all = interleave(hot, cold);
      phases.push(
        await runPhase(
          "burst",
          "burst",
          null,
          hot,
          cold,
          all.map((user) => ({ user, at: 0 })),
        ),
      );
      veterans.push(...hot.filter((u) => u.ready));
    }

    // 6. Steady join rates into the hot bucket, stepping up; cold pairs alongside.
    for (const rate of plan.rates) {
      const hotPairs = Math.max(1, Math.round((rate * plan.stepSeconds) / 2));
      const coldPairs = Math.max(1, Math.round((rate * plan.stepSeconds * plan.coldShare) / 2));
      const { hot, cold } = await makeUsers(`s${rate}`, hotPairs, coldPairs);
      const schedule: Array<{ user: SimUser; at: number }> = hot.map((user, i) => ({
        user,
        at: (i * 1000) / rate,
      }));
      const coldGap = (plan.stepSeconds * 1000) / coldPairs;
      for (let i = 0; i < cold.length; i += 2) {
        const at = (i / 2) * coldGap + coldGap / 3;
        schedule.push({ user: cold[i]!, at }, { user: cold[i + 1]!, at: at + 20 });
      }
      schedule.sort((a, b) => a.at - b.at);
      const phase = await runPhase(`steady ${rate}/s`, "steady", rate, hot, cold, schedule);
      phases.push(phase);
      veterans.push(...hot.filter((u) => u.ready));
      if (phase.overloaded && rate >= 500 && rate !== plan.rates.at(-1)) {
        progress.log("  server not keeping up; skipping higher rates");
        break;
      }
    }

    // 6b. The same rates joined by returning users, as most joins of a live service are: each
    // played earlier in this run, so its registry object exists (evicted after 10 s idle) and
    // the runtime opens its SQLite file instead of creating one. Oldest players first.
    for (const rate of context.skipReturning ? [] : plan.returningRates) {
      const count = 2 * Math.max(1, Math.round((rate * plan.stepSeconds) / 2));
      if (veterans.length < count) {
        progress.log(
          `  returning ${rate}/s needs ${count} earlier players, ${veterans.length} left: stopping`,
        );
        break;
      }
      const hot = veterans.splice(0, count).map((u) => new SimUser(u.id, hotRoom, u.token));
      const schedule = hot.map((user, i) => ({ user, at: (i * 1000) / rate }));
      const phase = await runPhase(`returning ${rate}/s`, "returning", rate, hot, [], schedule);
      phases.push(phase);
      if (phase.overloaded) break;
    }

    // 7. Records land asynchronously through each actor's outbox: wait until the counts stop moving.
    if (db && dbBefore) {
      progress.start("waiting for database records", 1);
      let last = await db.read();
      for (let i = 0; i < 10; i++) {
        await sleep(1_500);
        const now = await db.read();
        if (now && last && now.matches === last.matches && now.requests === last.requests) {
          last = now;
          break;
        }
        last = now;
      }
      dbAfter = last;
      if (!dbAfter) dbProblem = db.problem;
      progress.end();
    }
    // 8. Memory (each baseline is read right before its phase; its sockets stay open until 9).
    const memoryUsers: SimUser[] = [];
    /**
     * Open sockets up to each (cumulative) level, `concurrency` joins at a time, inside one time
     * box, and read RSS after each level. `user(i)` makes the i-th user.
     */
    const measureSockets = async (
      series: MemorySeries,
      label: string,
      levels: number[],
      mode: "hold" | "idle",
      concurrency: number,
      budgetMs: number,
      user: (i: number, id: string, token: string) => SimUser,
    ) => {
      if (levels.length === 0) return;
      await settle();
      const baseline = await sampleRss(s);
      series.baselineWorkerdMb = round2(baseline.workerdMb);
      series.baselineRolesMb = baseline.roles;
      // The live heap, read with the actors evicted: what our objects keep per idle socket, as
      // opposed to what the runtime's native side and its allocator keep (RSS).
      const inspector = plan.hibernateWaitMs > 0 ? await Inspector.connect(s.workerdPids()) : undefined;
      const heapNow = async () => {
        try {
          return await inspector?.liveHeapMb();
        } catch {
          return undefined;
        }
      };
      const baseHeap = await heapNow();
      series.baselineHeapMb = baseHeap === undefined ? null : round2(baseHeap);
      const fdsOf = (role: Role): FdStats | null => {
        const pid = s.snapshot().roles[role]?.pids[0];
        return pid === undefined ? null : (fdStats(pid) ?? null);
      };
      const baseFds = fdsOf("workerd-runtime");
      const baseRuntime = baseline.roles["workerd-runtime"] ?? 0;
      const baseProxy = baseline.roles["workerd-proxy"] ?? 0;
      progress.log(`  ${label} baseline: runtime ${f1(baseRuntime)} MB, proxy ${f1(baseProxy)} MB`);
      const sorted = [...levels].sort((a, b) => a - b);
      const maxLevel = sorted.at(-1)!;
      const ids = Array.from({ length: maxLevel }, () => newId(mode === "hold" ? "m" : "i"));
      const tokens = await mint(ids, label);
      const users: SimUser[] = [];
      const deadline = performance.now() + budgetMs;
      let fdsNow = baseFds;
      const peakFiles = { runtime: baseFds?.files ?? 0, proxy: 0 };
      const baseProxyFds = fdsOf("workerd-proxy");
      let proxyFdsNow = baseProxyFds;
      for (const asked of sorted) {
        // workerd's runtime holds several fds per user (the proxy's connection, each registry's
        // SQLite files); past its RLIMIT_NOFILE it crashes and drops every socket. Stop short.
        // The same holds for wrangler's proxy workerd (two fds per relayed socket).
        let level = asked;
        let fdCapped = false;
        const done = users.filter((u) => !Number.isNaN(u.tJoin)).length;
        for (const [name, base, now, filesPeak] of [
          ["runtime", baseFds, fdsNow, peakFiles.runtime],
          ["proxy", baseProxyFds, proxyFdsNow, peakFiles.proxy],
        ] as const) {
          const limit = now?.limit;
          if (limit === undefined) continue;
          // Sockets stay (two per client in the runtime, two per relayed one in the proxy). The
          // SQLite files of per-user objects come and go (closed at eviction, 10 s after last
          // use), so they need the most seen open at once, not a share per user. Before the first
          // level, assume 4 fds per user.
          const lasting = (x: FdStats | null) => (x ? x.sockets + x.other : 0);
          const perUser = done === 0 ? 4 : Math.max(0.5, (lasting(now) - lasting(base)) / done);
          const room = Math.floor(
            (0.85 * limit - lasting(now) - Math.max(filesPeak, now?.files ?? 0)) / perUser,
          );
          if (done + room < level) {
            level = Math.max(done, done + room - ((done + room) % 2));
            fdCapped = true;
            progress.log(
              `  ${asked} would pass 85 % of the ${name} workerd's fd limit (${limit}; ${perUser.toFixed(1)} fds per user): stopping at ${level}`,
            );
          }
        }
        if (level <= users.length) break;
        const fresh: SimUser[] = [];
        for (let i = users.length; i < level; i++) fresh.push(user(i, ids[i]!, tokens[i]!));
        const budgetLeft = deadline - performance.now();
        if (budgetLeft <= 0) break;
        progress.start(`${label}: opening to ${level}`, fresh.length);
        const t = performance.now();
        const boxed = await openSockets(wsBase, fresh, mode, concurrency, progress, budgetLeft);
        const openSeconds = (performance.now() - t) / 1000;
        users.push(...fresh);
        memoryUsers.push(...fresh);
        const startedNow = fresh.filter((u) => !Number.isNaN(u.tJoin)).length;
        progress.end(`${(startedNow / openSeconds).toFixed(1)} joins/s${boxed ? ", time box reached" : ""}`);
        await settle();
        const sample = await sampleRss(s);
        fdsNow = fdsOf("workerd-runtime");
        proxyFdsNow = fdsOf("workerd-proxy");
        peakFiles.runtime = Math.max(peakFiles.runtime, fdsNow?.files ?? 0);
        peakFiles.proxy = Math.max(peakFiles.proxy, proxyFdsNow?.files ?? 0);
        const ok = (u: SimUser) =>
          mode === "hold" ? u.held : !Number.isNaN(u.tQueued) && !u.matched && u.ws?.readyState === 1;
        const opened = users.filter(ok).length;
        const started = users.filter((u) => !Number.isNaN(u.tJoin)).length;
        const runtime = sample.roles["workerd-runtime"] ?? 0;
        const proxy = sample.roles["workerd-proxy"] ?? 0;
        const dR = runtime - baseRuntime;
        const dP = proxy - baseProxy;
        const per1k = (d: number) => (opened > 0 ? round2((d * 1000) / opened) : 0);
        series.levels.push({
          waiting: asked,
          timeBoxed: boxed,
          opened,
          failed: started - opened,
          rssMb: sample.roles,
          runtimeMb: round2(runtime),
          proxyMb: round2(proxy),
          workerdMb: round2(sample.workerdMb),
          deltaRuntimeMb: round2(dR),
          deltaProxyMb: round2(dP),
          deltaMb: round2(dR + dP),
          mbPer1k: per1k(dR),
          proxyMbPer1k: per1k(dP),
          workerdMbPer1k: per1k(dR + dP),
          clientRssMb: round2(process.memoryUsage().rss / 1048576),
          runtimeFds: fdsNow,
          proxyFds: proxyFdsNow,
          fdCapped,
          openSeconds: round2(openSeconds),
          joinsPerSec: round2(startedNow / openSeconds),
        });
        progress.log(
          `  ${opened} ${mode === "hold" ? "held" : "waiting"}: runtime ${f1(runtime)} MB (+${f1(dR)}, ${f2(per1k(dR))} per 1,000), proxy ${f1(proxy)} MB (+${f1(dP)}, ${f2(per1k(dP))} per 1,000)`,
        );
        // workerd evicts an actor 10 s after its last event; its hibernatable sockets stay open.
        // Idle sockets are what the target is about, so read again once every actor is asleep.
        if (plan.hibernateWaitMs > 0) {
          progress.start("idle for 14 s (workerd evicts actors idle for 10 s)", 1);
          await sleep(plan.hibernateWaitMs);
          const later = await sampleRss(s);
          const hR = (later.roles["workerd-runtime"] ?? 0) - baseRuntime;
          const hP = (later.roles["workerd-proxy"] ?? 0) - baseProxy;
          const last = series.levels.at(-1)!;
          last.afterHibernation = {
            runtimeMb: round2(later.roles["workerd-runtime"] ?? 0),
            proxyMb: round2(later.roles["workerd-proxy"] ?? 0),
            mbPer1k: per1k(hR),
            proxyMbPer1k: per1k(hP),
            stillOpen: users.filter(ok).length,
            runtimeFds: fdsOf("workerd-runtime"),
          };
          const heap = await heapNow();
          if (heap !== undefined && baseHeap !== undefined) {
            last.afterHibernation.heapMb = round2(heap);
            last.afterHibernation.heapMbPer1k = per1k(heap - baseHeap);
          }
          // The next level's room is reckoned from here, with the evicted objects' files closed.
          fdsNow = last.afterHibernation.runtimeFds ?? fdsNow;
          progress.end(`runtime +${f1(hR)} MB, ${f2(per1k(hR))} per 1,000`);
        }
        if (boxed || fdCapped) break;
      }
      series.baselineRuntimeFds = baseFds;
      series.baselineProxyFds = baseProxyFds;
      inspector?.close();
    };

    // 8a. Secondary, first: waiting sockets each alone in its own bucket (they stay open; run
    // first so the primary, capped by the fd limit, takes what room is left).
    if (plan.idleLevels.length > 0) {
      if (db) dbIdleBefore = await db.read();
      await measureSockets(
        memoryEach,
        "waiting sockets, one bucket each",
        plan.idleLevels,
        "idle",
        128,
        plan.idleBudgetMs,
        (i, id, token) => new SimUser(id, `${difficulties[i % 3]}.${topic(`i${i}`)}`, token),
      );
      if (db) dbIdleAfter = await db.read();
    }
    // 8b. Primary: N sockets in ONE bucket, joining in pairs (FIFO pairs each joiner with the one
    // waiting) and never confirming, so each sits in the confirmation window on a hibernatable
    // socket. Every user still has its own registry Durable Object, as in the product.
    const memRoom = `medium.${topic("mem")}`;
    await measureSockets(
      memoryHeld,
      "held sockets, one bucket",
      plan.holdLevels.map((n) => n + (n % 2)),
      "hold",
      plan.holdConcurrency,
      plan.holdBudgetMs,
      (_i, id, token) => new SimUser(id, memRoom, token),
    );

    // 9. Joins into a bucket where nobody waiting fits anybody, each joiner fitting only the
    // newest (docs/architecture.md, "Pairing"). Last, because its 1,000 sockets open at once raise the runtime's RSS
    // high-water mark (the allocator keeps what they free): run before memory, the held figure
    // read 52 MB per 1,000 instead of 212, and its records landed inside the database counts.
    // The memory sockets leave first, so the phase meets a quiet server, as the single pairs did.
    // Not on the floor: it has no roles or ratings, so there every joiner would pair at once.
    if (!floor && plan.incompatibleJoiners > 0 && plan.incompatibleWaiting > 0) {
      const open = memoryUsers.filter((u) => u.ws?.readyState === 1);
      if (open.length > 0) {
        progress.start("memory sockets leave", open.length);
        let gone = 0;
        await pool(open, 256, async (u) => {
          await u.leave(3_000);
          u.terminate();
          progress.set(++gone);
        });
        progress.end();
        await settle();
      }
      incompatibleJoin = await runIncompatibleJoins({
        wsBase,
        room: `medium.${topic("incompatible")}`,
        waiting: plan.incompatibleWaiting,
        joiners: plan.incompatibleJoiners,
        mintRated: async (tag, count, rating) => {
          const ids = Array.from({ length: count }, () => newId(tag));
          const tokens = await mint(ids, `incompatible bucket, ${tag}`, (i) => ({ rating: rating(i) }));
          return ids.map((id, i) => ({ id, token: tokens[i]! }));
        },
        progress,
      });
    }

    // 10. Flexible requests: each user waits in 2-4 of 10 buckets; a bucket pairs a request
    // made elsewhere only once its home hands it over. Not on the floor (one bucket per socket).
    if (!floor && plan.multiBucketUsers > 0) {
      await settle();
      multiBucket = await runMultiBucketJoins({
        wsBase,
        httpBase: s.base,
        topicPrefix: topic("flex"),
        users: plan.multiBucketUsers,
        buckets: plan.multiBucketBuckets,
        concurrency: 20,
        mint: async (count) => {
          const ids = Array.from({ length: count }, () => newId("flex"));
          const tokens = await mint(ids, "flexible requests");
          return ids.map((id, i) => ({ id, token: tokens[i]! }));
        },
        progress,
      });
    }
  } finally {
    await stopStack();
  }
  const serverReloads = values.url ? null : countReloads(context.logPath, logOffset);
  if (serverReloads)
    progress.log(
      `  WARNING: wrangler dev reloaded the server ${serverReloads}x during this run (a source file changed): its figures are not trustworthy`,
    );

  const clientCpu = process.cpuUsage(clientCpuStart);
  return buildResults({
    date,
    command,
    target,
    plan,
    core,
    coreIncompatible,
    phases,
    memoryHeld,
    memoryEach,
    db: {
      before: dbBefore,
      after: dbAfter,
      idleBefore: dbIdleBefore,
      idleAfter: dbIdleAfter,
      problem: dbProblem,
    },
    server: serverInfo,
    serverReloads,
    singlePair,
    incompatibleJoin,
    multiBucket,
    wallSeconds: round2((performance.now() - wallStart) / 1000),
    clientCpuTotalMs: Math.round((clientCpu.user + clientCpu.system) / 1000),
  });
}

/**
 * How often `wrangler dev` rebuilt and reloaded the Worker (it watches the sources) in the log
 * written since `offset`: a reload mid-run restarts the runtime, dropping its sockets and state.
 */
function countReloads(logPath: string, offset: number): number | null {
  try {
    const text = readFileSync(logPath, "utf8").slice(offset);
    return (text.match(/Reloading local server/g) ?? []).length;
  } catch {
    return null;
  }
}

// ---- driving users ----------------------------------------------------------------------------

/**
 * Start each user at its scheduled time (open loop: the schedule does not wait for answers),
 * then wait for all to finish. Stops starting new ones if too many are unfinished.
 */
async function drive(
  wsBase: string,
  schedule: Array<{ user: SimUser; at: number }>,
  progress: Progress,
  plan: Plan,
): Promise<{ overloaded: boolean }> {
  let finished = 0;
  let started = 0;
  let overloaded = false;
  const pending: Promise<void>[] = [];
  const t0 = performance.now();
  while (started < schedule.length) {
    const elapsed = performance.now() - t0;
    while (started < schedule.length && schedule[started]!.at <= elapsed) {
      const { user } = schedule[started]!;
      pending.push(
        user.start(wsBase, "confirm").then(() => {
          finished++;
          progress.set(finished);
        }),
      );
      started++;
    }
    if (started - finished > plan.maxInFlight) {
      overloaded = true;
      break;
    }
    if (started < schedule.length) {
      const wait = schedule[started]!.at - (performance.now() - t0);
      await sleep(Math.max(0, Math.min(wait, 5)));
    }
  }
  const all = Promise.all(pending);
  const timedOut = await Promise.race([all.then(() => false), sleep(plan.drainMs).then(() => true)]);
  if (timedOut || overloaded) {
    // Stragglers leave (an open socket ends its request at once, so no waiter is left behind in
    // the hot bucket for the next phase); sockets that never opened are dropped.
    const stragglers = schedule.map((s) => s.user).filter((u) => Number.isNaN(u.tClosed));
    await pool(stragglers, 256, async (u) => {
      if (u.ws?.readyState === 1) await u.leave(3_000);
      u.terminate();
      u.error ??= Number.isNaN(u.tJoin) ? "not started (overloaded)" : "unfinished at drain";
    });
  }
  return { overloaded };
}

/**
 * Open sockets `concurrency` joins at a time; each is done when its `queued` (idle) or
 * `match_found` (hold) arrives, or after 30 s. Returns true if the time box ran out (users not
 * started by then are skipped).
 */
async function openSockets(
  wsBase: string,
  users: SimUser[],
  mode: "hold" | "idle",
  concurrency: number,
  progress: Progress,
  budgetMs: number,
): Promise<boolean> {
  let n = 0;
  const until = performance.now() + budgetMs;
  let boxed = false;
  // Held sockets go in pairs (one pool item = two joins), so the time box never leaves a lone
  // waiter without a partner.
  const step = mode === "hold" ? 2 : 1;
  const groups: SimUser[][] = [];
  for (let i = 0; i < users.length; i += step) groups.push(users.slice(i, i + step));
  await pool(groups, Math.max(1, Math.round(concurrency / step)), async (group) => {
    if (performance.now() > until) {
      boxed = true;
      return;
    }
    await Promise.all(
      group.map(async (u) => {
        const late = await Promise.race([
          u.start(wsBase, mode).then(() => false),
          sleep(30_000).then(() => true),
        ]);
        if (late) u.error ??= mode === "hold" ? "no match_found within 30 s" : "no queued within 30 s";
        progress.set(++n);
      }),
    );
  });
  return boxed;
}

function interleave<T>(a: T[], b: T[]): T[] {
  const out: T[] = [];
  const n = Math.max(a.length, b.length);
  const ratio = b.length / Math.max(1, a.length);
  let j = 0;
  for (let i = 0; i < n; i++) {
    if (i < a.length) out.push(a[i]!);
    while (j < b.length && j < (i + 1) * ratio) out.push(b[j++]!);
  }
  while (j < b.length) out.push(b[j++]!);
  return out;
}

// ---- server figures ---------------------------------------------------------------------------

function cpuDelta(before: ProcSnapshot, after: ProcSnapshot): Partial<Record<Role, number>> {
  const out: Partial<Record<Role, number>> = {};
  for (const [role, f] of Object.entries(after.roles) as Array<[Role, { cpuMs: number }]>) {
    const b = before.roles[role]?.cpuMs ?? 0;
    out[role] = Math.round(f.cpuMs - b);
  }
  return out;
}

/**
 * How long the server must stay nearly idle before the next phase: longer than the service
 * holds new outbox records before delivering them (DELIVERY_BATCH_WAIT_MS, 1 s), so a phase's
 * delivery lands in that phase's CPU window and not in the next phase's latencies. With 0.5 s a
 * settle could end before the previous phase's records went out, and their delivery then ran
 * inside the next phase.
 */
const QUIET_MS = 1_500;

/** Wait until the server's processes are nearly idle (under 5 % of a core for QUIET_MS), max 8 s. */
async function waitForQuiet(s: Stack, progress: Progress): Promise<void> {
  const first = s.snapshot();
  if (Object.keys(first.roles).length === 0) {
    await sleep(1_000);
    return;
  }
  const busy = (snap: ProcSnapshot) =>
    Object.entries(snap.roles)
      .filter(([role]) => role !== "other")
      .reduce((sum, [, f]) => sum + f.cpuMs, 0);
  progress.start("letting the server settle", 1);
  const deadline = Date.now() + 8_000;
  let prev = busy(first);
  let prevAt = Date.now();
  let quietFor = 0;
  while (Date.now() < deadline) {
    await sleep(250);
    const now = busy(s.snapshot());
    const at = Date.now();
    const load = (now - prev) / (at - prevAt);
    prev = now;
    prevAt = at;
    quietFor = load < 0.05 ? quietFor + 250 : 0;
    if (quietFor >= QUIET_MS) break;
  }
  progress.end();
}

/** workerd RSS (runtime + proxy), median of 3 reads. */
async function sampleRss(s: Stack): Promise<{ workerdMb: number; roles: Partial<Record<Role, number>> }> {
  const reads: ProcSnapshot[] = [];
  for (let i = 0; i < 3; i++) {
    reads.push(s.snapshot());
    await sleep(300);
  }
  const workerd = (snap: ProcSnapshot) =>
    (snap.roles["workerd-runtime"]?.rssKb ?? 0) + (snap.roles["workerd-proxy"]?.rssKb ?? 0);
  reads.sort((a, b) => workerd(a) - workerd(b));
  const mid = reads[1]!;
  const roles: Partial<Record<Role, number>> = {};
  for (const [role, f] of Object.entries(mid.roles) as Array<[Role, { rssKb: number }]>)
    roles[role] = mb(f.rssKb);
  return { workerdMb: workerd(mid) / 1024, roles };
}

// ---- results ----------------------------------------------------------------------------------

function buildResults(input: {
  date: Date;
  command: string;
  plan: Plan;
  core: CoreResult[];
  coreIncompatible: IncompatibleCoreResult;
  phases: PhaseResult[];
  memoryHeld: MemorySeries;
  memoryEach: MemorySeries;
  db: {
    before: DbCounters | undefined;
    after: DbCounters | undefined;
    idleBefore: DbCounters | undefined;
    idleAfter: DbCounters | undefined;
    problem: string | undefined;
  };
  server: Record<string, unknown>;
  serverReloads: number | null;
  singlePair: SinglePairResult | null;
  incompatibleJoin: IncompatibleJoinResult | null;
  multiBucket: MultiBucketResult | null;
  target: Target;
  wallSeconds: number;
  clientCpuTotalMs: number;
}): Results {
  const measured = input.phases.filter((p) => p.kind !== "warmup");
  const steady = measured.filter((p) => p.kind === "steady");
  const best = bestSustained(steady);
  const bestReturning = bestSustained(measured.filter((p) => p.kind === "returning"));
  const at500 = steady.find((p) => p.targetRate === 500);
  const matchesConfirmed = measured.reduce((n, p) => n + p.hot.ready / 2 + (p.cold?.ready ?? 0) / 2, 0);
  const { before, after, idleBefore, idleAfter } = input.db;
  const db =
    before && after
      ? {
          via: after.via,
          matchesConfirmedByClients: matchesConfirmed,
          matchRows: after.matches - before.matches,
          requestRows: after.requests - before.requests,
          // Our own reads are transactions too: one per read (about 2 to 12 of them).
          transactions: after.xactCommit - before.xactCommit,
          tuplesWritten: after.tupInserted - before.tupInserted + (after.tupUpdated - before.tupUpdated),
          rowsWrittenPerMatch:
            matchesConfirmed > 0
              ? round2(
                  (after.tupInserted - before.tupInserted + (after.tupUpdated - before.tupUpdated)) /
                    matchesConfirmed,
                )
              : null,
          transactionsPerMatch:
            matchesConfirmed > 0 ? round2((after.xactCommit - before.xactCommit) / matchesConfirmed) : null,
          idleJoinTransactions: idleBefore && idleAfter ? idleAfter.xactCommit - idleBefore.xactCommit : null,
          problem: input.db.problem ?? null,
        }
      : { problem: input.db.problem ?? "database counters could not be read" };
  // Each per-1,000 figure comes from the largest level reached with (almost) no failed sockets;
  // a time-boxed level still counts (its figure is over the sockets actually held).
  const figureOf = (series: MemorySeries) =>
    series.levels.filter((m) => m.opened >= 500 && m.failed <= 0.01 * m.opened).at(-1) ??
    series.levels.at(-1);
  const heldFigure = figureOf(input.memoryHeld);
  const eachFigure = figureOf(input.memoryEach);
  const memoryUsers = (series: MemorySeries) =>
    series.levels.at(-1) ? series.levels.at(-1)!.opened + series.levels.at(-1)!.failed : 0;
  const everyone = measured.flatMap((p) => [p.hot, ...(p.cold ? [p.cold] : [])]);
  return {
    date: input.date.toISOString(),
    command: input.command,
    target: input.target,
    machine: {
      cpus: cpus().length,
      cpuModel: cpus()[0]?.model ?? "unknown",
      memGiB: Math.round(totalmem() / 2 ** 30),
      kernel: release(),
      node: process.version,
    },
    plan: input.plan,
    server: input.server,
    serverReloads: input.serverReloads,
    core: input.core,
    coreIncompatible: input.coreIncompatible,
    phases: input.phases,
    singlePair: input.singlePair,
    incompatibleJoin: input.incompatibleJoin,
    multiBucket: input.multiBucket,
    memory: { held: input.memoryHeld, oneBucketEach: input.memoryEach },
    db,
    sustainedJoinsPerSec: best?.targetRate ?? 0,
    returningSustainedJoinsPerSec: bestReturning?.targetRate ?? null,
    sustainedServedJoinsPerSec: best?.hot.servedJoinsPerSec ?? 0,
    at500: at500 ? at500.hot.bothFromJoin : null,
    wallSeconds: input.wallSeconds,
    clientCpuTotalMs: input.clientCpuTotalMs,
    totals: {
      users:
        everyone.reduce((n, f) => n + f.users, 0) +
        memoryUsers(input.memoryHeld) +
        memoryUsers(input.memoryEach),
      matched: everyone.reduce((n, f) => n + f.matched, 0),
      ready: everyone.reduce((n, f) => n + f.ready, 0),
      errors: everyone.reduce((n, f) => n + f.errors, 0),
    },
    // Idle sockets: the figure once their actors hibernated, when the run waited for that.
    rssMbPer1kWaiting: heldFigure ? (heldFigure.afterHibernation?.mbPer1k ?? heldFigure.mbPer1k) : null,
    rssMbPer1kWaitingActive: heldFigure ? heldFigure.mbPer1k : null,
    heapMbPer1kWaiting: heldFigure?.afterHibernation?.heapMbPer1k ?? null,
    rssMbPer1kWaitingHibernated: heldFigure?.afterHibernation !== undefined,
    rssMbPer1kWaitingProxy: heldFigure
      ? (heldFigure.afterHibernation?.proxyMbPer1k ?? heldFigure.proxyMbPer1k)
      : null,
    rssMbPer1kWaitingLevel: heldFigure ? heldFigure.opened : null,
    rssMbPer1kWaitingOneBucketEach: eachFigure ? eachFigure.mbPer1k : null,
  };
}

const f1 = (x: number) => x.toFixed(1);
const f2 = (x: number) => x.toFixed(2);

function mb(kb: number): number {
  return round2(kb / 1024);
}

function round2(x: number): number {
  return Math.round(x * 100) / 100;
}

main().then(
  (code) => process.exit(code),
  (error: unknown) => {
    console.error(`bench failed: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}`);
    process.exit(1);
  },
);

import { runFigures, SUSTAIN_P99_MS, VS_FLOOR_TARGETS, type VsFloor } from "./figures.ts";
import { incompatibleFigures } from "./incompatible.ts";
import type { MemorySeries, PhaseResult, Results, Target } from "./results.ts";
import type { RowsResult } from "./rows.ts";
import type { Dist } from "./stats.ts";

export type { Results, SinglePairResult, Target } from "./results.ts";

/** The table on stdout, the SVG chart and the one-line JSON summary, all from one Results. */

export const TARGETS_MEASURED = {
  service: {
    name: "service",
    description: "the service (npm start: router, bucket actors, registries, outbox)",
  },
  floor: {
    name: "floor",
    description:
      "runtime floor, bare: same protocol, no auth, registry, storage or partyserver (bench/floor/)",
  },
  floorClaim: {
    name: "floor+claim",
    description:
      "runtime floor + one per-user Durable Object write per join, as our registry claim (bench/floor/)",
  },
} as const satisfies Record<string, Target>;

/** What `--vs-floor` writes: both runs in full and the comparison. */
export type VsFloorResults = {
  date: string;
  command: string;
  /** Both runs together, s. */
  wallSeconds: number;
  vsFloor: VsFloor;
  service: Results;
  floor: Results;
};

export const TARGETS = {
  p99At500Ms: 10,
  joinsPerSecPerBucket: 1000,
  mbPer1kWaiting: 2,
};

export function summaryLine(r: Results): Record<string, unknown> {
  const figures = runFigures(r);
  return {
    date: r.date,
    target: r.target.name,
    users: r.totals.users,
    matched: r.totals.matched,
    ready: r.totals.ready,
    errors: r.totals.errors,
    matchP50Ms: r.at500?.p50 ?? null,
    matchP99Ms: r.at500?.p99 ?? null,
    matchBasis: "join start -> match_found, both sides, hot bucket at 500 joins/s",
    joinsPerSec: r.sustainedJoinsPerSec,
    returningJoinsPerSec: r.returningSustainedJoinsPerSec,
    rssMbPer1kWaiting: r.rssMbPer1kWaiting,
    rssMbPer1kWaitingBasis: `runtime workerd RSS over baseline per 1,000 matched-unconfirmed sockets in one bucket${r.rssMbPer1kWaitingHibernated ? ", after 14 s idle (workerd evicts actors idle for 10 s)" : ", actors in memory"}`,
    rssMbPer1kWaitingActive: r.rssMbPer1kWaitingActive,
    heapMbPer1kWaiting: r.heapMbPer1kWaiting,
    rssMbPer1kWaitingAt: r.rssMbPer1kWaitingLevel,
    rssMbPer1kWaitingProxy: r.rssMbPer1kWaitingProxy,
    rssMbPer1kWaitingOneBucketEach: r.rssMbPer1kWaitingOneBucketEach,
    dbRowsPerMatch: (r.db.rowsWrittenPerMatch as number | null | undefined) ?? null,
    corePairsPerSec: r.core[0]?.pairsPerSec ?? null,
    burstUsers: figures.burstUsers,
    burstMatched: figures.burstMatched,
    burstP50Ms: figures.burstP50Ms,
    burstP99Ms: figures.burstP99Ms,
    sustainedJoinsPerSec: figures.sustainedJoinsPerSec,
    cpuMsPerJoin: figures.cpuMsPerJoin,
    cpuMsPerJoinRates: figures.cpuRates,
    singlePairMs: figures.singlePairMs,
    ...incompatibleFigures(r.incompatibleJoin, figures.singlePairMs),
    multiBucketJoinP50Ms: r.multiBucket?.joinToFound?.p50 ?? null,
    multiBucketJoinP99Ms: r.multiBucket?.joinToFound?.p99 ?? null,
    multiBucketHandOversRefused: r.multiBucket?.handOvers?.refused ?? null,
    coreIncompatibleJoinUs: r.coreIncompatible.usPerIncompatibleJoin,
    coreFifoJoinUs: r.coreIncompatible.usPerFifoJoin,
    serverReloads: r.serverReloads ?? null,
    ...rowsSummary(r.rows),
  };
}

/** The rows phase's figures for the last line. */
export function rowsSummary(rows: RowsResult | null | undefined): Record<string, unknown> {
  return {
    rowsPerMatch: rows?.rowsPerMatch ?? null,
    rowsPerMatchBusy: rows?.rowsPerMatchBusy ?? null,
    rowsPerMatchWithChannels: rows?.rowsPerMatchWithChannels ?? null,
    requestsPerMatchWithChannels: rows?.requestsPerMatchWithChannels ?? null,
    rowsPerCancelled: rows?.rowsPerCancelled ?? null,
    rowsPerTimedOut: rows?.rowsPerTimedOut ?? null,
    requestsPerMatch: rows?.requestsPerMatch ?? null,
    usdPerMillionMatches: rows?.usdPerMillionMatches ?? null,
    pricesAsOf: rows?.prices.asOf ?? null,
  };
}

/**
 * Rows written per outcome by class and table (live, then at prune), object requests as billed,
 * and the price at list prices.
 */
export function renderRows(rows: RowsResult): string {
  const out: string[] = [];
  const p = rows.prices;
  out.push(
    `Storage per outcome, from the runtime's counters (rows written incl. index entries; KV keys and alarms one row each). Prices as of ${p.asOf}: $${p.usdPerMillionRowsWritten.toFixed(2)} per million rows written, $${p.usdPerMillionRequests.toFixed(2)} per million requests, WebSocket messages ${p.webSocketMessagesPerRequest}:1.`,
  );
  const scenarios = rows.scenarios;
  const keys = new Set<string>();
  for (const sc of scenarios)
    for (const [cls, tables] of Object.entries(sc.per.rowsByTable))
      for (const table of Object.keys(tables)) keys.add(`${cls}\u0000${table}`);
  const sorted = [...keys].sort();
  const cell = (n: number | undefined) => (n === undefined ? "-" : String(n));
  const per = (sc: (typeof scenarios)[number], cls: string, table: string, part: "live" | "prune") => {
    const u = sc[part];
    const n = u.rows[cls]?.[table];
    return n === undefined || sc.count === 0 ? undefined : Math.round((n / sc.count) * 100) / 100;
  };
  out.push(
    table(
      ["class / table", ...scenarios.map((sc) => `${sc.name} (${sc.count}): live + prune`)],
      [
        ...sorted.map((k) => {
          const [cls, tbl] = k.split("\u0000") as [string, string];
          return [
            `${cls} / ${tbl}`,
            ...scenarios.map((sc) => {
              const live = per(sc, cls, tbl, "live");
              const pruned = per(sc, cls, tbl, "prune");
              return live === undefined && pruned === undefined ? "-" : `${cell(live)} + ${cell(pruned)}`;
            }),
          ];
        }),
        [
          "rows, total",
          ...scenarios.map((sc) => `${sc.per.rowsLive} + ${sc.per.rowsPrune} = ${sc.per.rows}`),
        ],
        [
          "requests (billed)",
          ...scenarios.map(
            (sc) =>
              `${sc.per.requests} (${Object.entries(sc.per.requestsByClass)
                .map(([c, n]) => `${c} ${n}`)
                .join(", ")})`,
          ),
        ],
        ["$ per million", ...scenarios.map((sc) => f(sc.per.usd, 2))],
      ],
    ),
  );
  const size = Object.entries(rows.size)
    .map(([cls, s]) => `${cls} ${s.objects} objects, ${f(s.bytes / 1024, 0)} KiB`)
    .join("; ");
  out.push(`databaseSize at the end: ${size}`);
  if (rows.lateRows > 0)
    out.push(`WARNING: ${rows.lateRows} rows showed only after a statement's first step`);
  return `${out.join("\n")}\n`;
}

// ---- table ------------------------------------------------------------------------------------

function table(headers: string[], rows: Array<Array<string | number>>, alignLeft = 1): string {
  const cells = [headers, ...rows.map((r) => r.map(String))];
  const widths = headers.map((_, i) => Math.max(...cells.map((r) => (r[i] ?? "").length)));
  const line = (r: string[]) =>
    `| ${r.map((c, i) => (i < alignLeft ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join(" | ")} |`;
  const rule = `|${widths.map((w, i) => (i < alignLeft ? `:${"-".repeat(w + 1)}` : `${"-".repeat(w + 1)}:`)).join("|")}|`;
  return [line(headers), rule, ...cells.slice(1).map(line)].join("\n");
}

const f = (x: number | null | undefined, digits = 1) =>
  x === null || x === undefined || !Number.isFinite(x) ? "-" : x.toFixed(digits);
const fds = (x: { sockets: number; files: number; limit?: number | undefined } | null | undefined) =>
  x ? `${x.sockets}/${x.files} of ${x.limit ?? "?"}` : "-";
const d4 = (x: Dist | null) => (x ? `${f(x.p50)} / ${f(x.p90)} / ${f(x.p99)} / ${f(x.max)}` : "-");

export function renderTable(r: Results, paths: { jsonPath: string; svgPath: string }): string {
  const out: string[] = [];
  const measured = r.phases.filter((p) => p.kind !== "warmup");
  out.push(`edge-matcher benchmark, ${r.date}`);
  out.push(`command: ${r.command}`);
  out.push(`measured: ${r.target.description}`);
  if (r.serverReloads)
    out.push(
      `WARNING: wrangler dev reloaded the Worker ${r.serverReloads}x during this run (a source file changed); the runtime restarted mid-run, so these figures are not trustworthy.`,
    );
  out.push(
    `machine: ${r.machine.cpus} cores (${r.machine.cpuModel}), ${r.machine.memGiB} GiB, Linux ${r.machine.kernel}, client Node ${r.machine.node}; server: wrangler dev (workerd) on 127.0.0.1, sharing the cores with the client`,
  );
  out.push(
    r.server.viaProxy === false
      ? "clients: straight to the runtime workerd's own socket (wrangler's dev proxy, which production lacks, is bypassed)"
      : "clients: through wrangler's dev proxy (a second workerd relaying every socket; production has none)",
  );
  out.push("");
  out.push("Join -> match_found, ms (p50 / p90 / p99 / max). 'join' = before the upgrade request is sent.");
  out.push("  joiner = the side whose join completed the pair, from its own join start;");
  out.push("  waiter = the side already waiting, from its partner's join start;");
  out.push("  from open = joiner, from its socket's `open` (the server joins before it answers 101, so ~0).");
  out.push(
    table(
      [
        "phase (hot bucket)",
        "users",
        "joins/s",
        "joiner from join",
        "waiter from partner join",
        "from open p50/p99",
        "confirm->ready p50/p99",
        "err",
        "cancelled",
      ],
      measured.map((p) => [
        p.name + (p.overloaded ? " (overloaded)" : ""),
        p.hot.users,
        f(p.hot.servedJoinsPerSec, 0),
        d4(p.hot.joinerFromJoin),
        d4(p.hot.waiterFromPartnerJoin),
        p.hot.joinerFromOpen ? `${f(p.hot.joinerFromOpen.p50, 2)} / ${f(p.hot.joinerFromOpen.p99, 2)}` : "-",
        p.hot.confirmToReady ? `${f(p.hot.confirmToReady.p50)} / ${f(p.hot.confirmToReady.p99)}` : "-",
        p.hot.errors,
        p.hot.cancelledMatches,
      ]),
    ),
  );
  out.push("");
  out.push("Cold buckets (each pair in a bucket of its own, created on first join), same columns:");
  out.push(
    table(
      [
        "phase (cold buckets)",
        "users",
        "joiner from join",
        "waiter from partner join",
        "upgrade p50/p99",
        "confirm->ready p50/p99",
        "err",
      ],
      measured
        .filter((p) => p.cold)
        .map((p) => [
          p.name,
          p.cold!.users,
          d4(p.cold!.joinerFromJoin),
          d4(p.cold!.waiterFromPartnerJoin),
          p.cold!.upgrade ? `${f(p.cold!.upgrade.p50)} / ${f(p.cold!.upgrade.p99)}` : "-",
          p.cold!.confirmToReady
            ? `${f(p.cold!.confirmToReady.p50)} / ${f(p.cold!.confirmToReady.p99)}`
            : "-",
          p.cold!.errors,
        ]),
    ),
  );
  out.push("");
  const sp = r.singlePair;
  if (sp) {
    const d = sp.secondJoinToFound;
    out.push(
      `Single pair (${sp.pairs} pairs one at a time, each alone in a fresh bucket; second join -> its match_found): ` +
        (d
          ? `p50 ${f(d.p50)} / p90 ${f(d.p90)} / max ${f(d.max)} ms over ${d.n} pairs`
          : "no pair completed") +
        `${
          sp.failed > 0
            ? `; ${sp.failed} failed (${Object.entries(sp.errorKinds ?? {})
                .map(([k, n]) => `${n}x ${k}`)
                .join(", ")})`
            : ""
        }.`,
    );
    out.push("");
  }
  const mb = r.multiBucket;
  if (mb) {
    const d = mb.joinToFound;
    const ho = mb.handOvers;
    out.push(
      `Flexible requests (${mb.users} users across ${mb.buckets} buckets, ${f(mb.bucketsPerRequest, 2)} buckets each on average, 20 joins in flight; join -> match_found): ` +
        (d
          ? `p50 ${f(d.p50)} / p90 ${f(d.p90)} / p99 ${f(d.p99)} / max ${f(d.max)} ms over ${d.n} matched`
          : "nobody matched") +
        `; hand-overs ${ho ? `${ho.granted} granted, ${ho.refused} refused` : "not read"}` +
        (mb.failed > 0
          ? `; ${mb.failed} matched without match_ready (${Object.entries(mb.errorKinds)
              .map(([k, n]) => `${n}x ${k}`)
              .join(", ")})`
          : "") +
        ".",
    );
    out.push("");
  }
  const ij = r.incompatibleJoin;
  if (ij) {
    const d = ij.joinToFound;
    const vs = incompatibleFigures(ij, sp?.secondJoinToFound?.p50 ?? null).incompatibleJoinVsSinglePairMs;
    const trouble = [
      ij.failed > 0
        ? `${ij.failed} not paired with the newest (${Object.entries(ij.errorKinds)
            .map(([k, n]) => `${n}x ${k}`)
            .join(", ")})`
        : "",
      ij.shortQueue > 0 ? `${ij.shortQueue} found fewer than ${ij.waiting} waiting` : "",
    ].filter(Boolean);
    out.push(
      `Incompatible bucket (${ij.waiting} interviewers waiting, none fitting another; ${ij.joiners} interviewees one at a time, each fitting only the newest; join -> its match_found): ` +
        (d
          ? `p50 ${f(d.p50)} / p90 ${f(d.p90)} / p99 ${f(d.p99)} / max ${f(d.max)} ms over ${d.n} joins`
          : "no join completed") +
        (vs === null ? "" : ` (${vs >= 0 ? "+" : ""}${f(vs, 2)} ms on the single pair's p50)`) +
        (trouble.length > 0 ? `; ${trouble.join("; ")}: no figure` : "") +
        `; opening the ${ij.waiting} took ${f(ij.openSeconds)} s.`,
    );
    out.push("");
  }
  out.push(
    "CPU time per phase (ms; the client and the server share the same cores; from the phase's first join until the server is quiet after it):",
  );
  out.push(
    table(
      [
        "phase",
        "wall s",
        "client",
        "workerd runtime",
        "workerd proxy",
        "wrangler",
        "database",
        "server µs/join",
        "client µs/join",
      ],
      r.phases.map((p) => [
        p.name,
        f(p.wallSeconds, 1),
        p.cpu.clientMs,
        p.cpu.serverMs["workerd-runtime"] ?? "-",
        p.cpu.serverMs["workerd-proxy"] ?? "-",
        p.cpu.serverMs.wrangler ?? "-",
        p.cpu.serverMs.database ?? "-",
        p.cpu.serverUsPerJoin ?? "-",
        p.cpu.clientUsPerJoin ?? "-",
      ]),
    ),
  );
  out.push("");
  const memTable = (series: MemorySeries) => {
    const b = series.baselineRolesMb;
    out.push(
      table(
        [
          "sockets asked",
          "held",
          "failed",
          "runtime MB",
          "proxy MB",
          "runtime +MB",
          "runtime MB/1k",
          "proxy +MB",
          "proxy MB/1k",
          "opened in s",
          "joins/s",
          "runtime fds sock/file",
          "proxy fds",
        ],
        [
          [
            "baseline",
            "-",
            "-",
            f(b["workerd-runtime"]),
            f(b["workerd-proxy"]),
            "-",
            "-",
            "-",
            "-",
            "-",
            "-",
            fds(series.baselineRuntimeFds),
            fds(series.baselineProxyFds),
          ],
          ...series.levels.map((m) => [
            `${m.waiting}${m.timeBoxed ? " (time box)" : ""}${m.fdCapped ? " (fd limit)" : ""}`,
            m.opened,
            m.failed,
            f(m.runtimeMb),
            f(m.proxyMb),
            f(m.deltaRuntimeMb),
            f(m.mbPer1k, 2),
            f(m.deltaProxyMb),
            f(m.proxyMbPer1k, 2),
            f(m.openSeconds, 1),
            f(m.joinsPerSec, 1),
            fds(m.runtimeFds),
            fds(m.proxyFds),
          ]),
        ],
      ),
    );
    const asleep = series.levels.filter((m) => m.afterHibernation);
    if (asleep.length > 0) {
      out.push(
        "  Read again after 14 s idle (workerd evicts an actor idle for 10 s; its sockets stay open, its SQLite files close):",
      );
      out.push(
        table(
          [
            "sockets",
            "still open",
            "runtime MB",
            "runtime MB/1k",
            "proxy MB",
            "proxy MB/1k",
            "runtime fds sock/file: before -> after",
            "live heap MB/1k",
          ],
          asleep.map((m) => [
            m.opened,
            m.afterHibernation!.stillOpen,
            f(m.afterHibernation!.runtimeMb),
            f(m.afterHibernation!.mbPer1k, 2),
            f(m.afterHibernation!.proxyMb),
            f(m.afterHibernation!.proxyMbPer1k, 2),
            `${fds(m.runtimeFds)} -> ${fds(m.afterHibernation!.runtimeFds)}`,
            f(m.afterHibernation!.heapMbPer1k, 2),
          ]),
        ),
      );
    }
    out.push("");
  };
  if (r.memory.held.levels.length > 0) {
    out.push(
      "Memory, PRIMARY: idle sockets held by ONE bucket actor (pairs matched, never confirming, sitting in the confirmation window).",
    );
    out.push(
      "  RSS of the workerd runtime (Worker + every Durable Object) and, separately, wrangler's proxy workerd (relays every socket; not in production).",
    );
    out.push(`  ${perUserObjects(r.target)} MB/1k = over baseline per 1,000 held.`);
    memTable(r.memory.held);
  }
  if (r.memory.oneBucketEach.levels.length > 0) {
    out.push(
      `Memory, secondary: waiting sockets each alone in a bucket of its own. This measures Durable Object instances (one bucket actor${r.target.name === "floor" ? "" : " + one per-user object"} per socket), not sockets:`,
    );
    memTable(r.memory.oneBucketEach);
  }
  const db = r.db;
  if (db.rowsWrittenPerMatch !== undefined) {
    out.push(
      `Database (${String(db.via)}): ${String(db.matchesConfirmedByClients)} matches confirmed during burst + steady; ` +
        `${String(db.matchRows)} match rows and ${String(db.requestRows)} request rows appeared; ` +
        `${String(db.tuplesWritten)} tuples written (${String(db.rowsWrittenPerMatch)} per match), ` +
        `${String(db.transactions)} transactions incl. our reads (${String(db.transactionsPerMatch)} per match); ` +
        `transactions during the idle joins: ${String(db.idleJoinTransactions)}.`,
    );
  } else {
    out.push(`Database: not measured (${String(db.problem)}).`);
  }
  out.push("");
  out.push("Pure matching core in this process (join, join, confirm, confirm per pair):");
  out.push(
    table(
      ["variant", "pairs/s", "joins/s", "µs per pair"],
      r.core.map((c) => [c.variant, c.pairsPerSec, c.joinsPerSec, f(c.usPerPair, 1)]),
    ),
  );
  const ci = r.coreIncompatible;
  out.push(
    `  A join into ${ci.waiting} waiting interviewers that fits only the newest (looks at all of them): ${f(ci.usPerIncompatibleJoin, 1)} µs over ${ci.joins} joins; ` +
      `the join that completes a FIFO pair, timed the same way: ${f(ci.usPerFifoJoin, 1)} µs. ` +
      `Refilling the queue (an interviewer, fitting nobody) is timed apart: ${f(ci.usPerRefillJoin, 1)} µs.`,
  );
  out.push("");
  const p99 = r.at500?.p99;
  const mem = r.rssMbPer1kWaiting;
  const verdict = (ok: boolean | null) => (ok === null ? "not measured" : ok ? "met" : "MISSED");
  out.push("Targets:");
  out.push(
    table(
      ["target", "measured", "verdict"],
      [
        [
          `p99 join->match_found < ${TARGETS.p99At500Ms} ms at 500 joins/s, one bucket`,
          p99 === undefined ? "-" : `${f(p99, 2)} ms`,
          verdict(p99 === undefined ? null : p99 < TARGETS.p99At500Ms),
        ],
        [
          `>= ${TARGETS.joinsPerSecPerBucket} joins/s per bucket actor (p99 < ${SUSTAIN_P99_MS} ms, nobody lost)`,
          `${r.sustainedJoinsPerSec} joins/s (served ${f(r.sustainedServedJoinsPerSec, 0)})${r.returningSustainedJoinsPerSec === null ? "" : `; returning users ${r.returningSustainedJoinsPerSec} joins/s`}`,
          verdict(r.sustainedJoinsPerSec >= TARGETS.joinsPerSecPerBucket),
        ],
        [
          `<= ${TARGETS.mbPer1kWaiting} MB per 1,000 idle sockets (one bucket, runtime workerd)`,
          mem === null
            ? "-"
            : `${f(mem, 2)} MB at ${r.rssMbPer1kWaitingLevel} held${r.rssMbPer1kWaitingHibernated ? `, after 14 s idle (${f(r.rssMbPer1kWaitingActive, 2)} MB right after opening${r.heapMbPer1kWaiting === null ? "" : `; live heap ${f(r.heapMbPer1kWaiting, 2)} MB`})` : ""} (+${f(r.rssMbPer1kWaitingProxy, 2)} MB in wrangler's proxy)`,
          // Under 1,000 sockets the RSS delta is within GC noise: no verdict.
          verdict(
            mem === null || (r.rssMbPer1kWaitingLevel ?? 0) < 1000 ? null : mem <= TARGETS.mbPer1kWaiting,
          ),
        ],
        [
          "no database round trip on the join path",
          db.idleJoinTransactions === undefined || db.idleJoinTransactions === null
            ? "by code (router -> actor -> registry DO, no DB call)"
            : `${String(db.idleJoinTransactions)} DB transactions during ${r.memory.oneBucketEach.levels.at(-1)?.waiting ?? 0} waiting joins (one bucket each): their outboxes, delivering after the join`,
          "met (by code: nothing on the join path awaits the database)",
        ],
      ],
    ),
  );
  out.push("");
  if (r.rows) out.push(renderRows(r.rows));
  out.push(
    `totals: ${r.totals.users} users, ${r.totals.matched} matched, ${r.totals.ready} ready, ${r.totals.errors} errors; wall ${f(r.wallSeconds, 0)} s; client CPU ${r.clientCpuTotalMs} ms`,
  );
  out.push(`results: ${paths.jsonPath}`);
  out.push(`chart:   ${paths.svgPath}`);
  out.push("");
  return `${out.join("\n")}\n`;
}

/** The `--vs-floor` section: the service against the bare floor, figure by figure, with the targets. */
export function renderVsFloor(c: VsFloorResults): string {
  const v = c.vsFloor;
  const out: string[] = [];
  const t = VS_FLOOR_TARGETS;
  out.push(
    `vs floor: the service against the bare runtime floor (bench/floor/), same plan, floor run first; targets: sustained >= ${t.sustainedMinRatio}x floor, burst p50 <= ${t.burstP50MaxRatio}x, CPU/join <= ${t.cpuPerJoinMaxRatio}x, RSS/1k idle <= ${t.rssPer1kMaxRatio}x, single pair <= floor + ${t.singlePairMaxExtraMs} ms.`,
  );
  for (const [name, r] of [
    ["service", c.service],
    ["floor", c.floor],
  ] as const) {
    if (r.serverReloads)
      out.push(`WARNING: the ${name} run's server reloaded ${r.serverReloads}x mid-run: not trustworthy.`);
  }
  out.push(
    table(
      ["figure", "service", "floor", "service vs floor", "target", "verdict", "note"],
      v.rows.map((row) => [
        row.figure,
        f(row.service, 2),
        f(row.floor, 2),
        row.ratio === null
          ? "-"
          : row.ratioKind === "ratio"
            ? `${f(row.ratio, 2)}x`
            : `${row.ratio >= 0 ? "+" : ""}${f(row.ratio, 2)} ms`,
        row.target,
        row.verdict,
        row.note,
      ]),
    ),
  );
  out.push("");
  out.push(
    "Hot bucket, join -> match_found both sides, p50 / p99 ms (burst: own join start), service | floor:",
  );
  const floorPhase = new Map(c.floor.phases.map((p) => [p.name, p]));
  const pp = (p: PhaseResult | undefined) => {
    if (!p) return "-";
    const d = p.kind === "burst" ? p.hot.ownFromJoin : p.hot.bothFromJoin;
    return `${d ? `${f(d.p50)} / ${f(d.p99)}` : "-"}${p.overloaded ? " (overloaded)" : ""}${p.hot.matched < p.hot.users ? ` (${p.hot.users - p.hot.matched} unmatched)` : ""}`;
  };
  out.push(
    table(
      ["phase", "service", "floor"],
      c.service.phases
        .filter((p) => p.kind !== "warmup")
        .map((p) => [p.name, pp(p), pp(floorPhase.get(p.name))]),
    ),
  );
  out.push("");
  out.push(
    `both runs: wall ${f(c.wallSeconds, 0)} s (floor ${f(c.floor.wallSeconds, 0)} s, service ${f(c.service.wallSeconds, 0)} s); the results file holds both runs in full.`,
  );
  out.push("");
  return `${out.join("\n")}\n`;
}

function perUserObjects(target: Target): string {
  if (target.name === "service")
    return "Each user still has its own UserRegistry Durable Object, as in the product.";
  if (target.name === "floor+claim") return "Each user has its own claim Durable Object (one SQLite row).";
  return "No per-user objects: the bare floor keeps nothing but the sockets.";
}

// ---- SVG --------------------------------------------------------------------------------------

const COLORS = [
  "#1b9e77",
  "#d95f02",
  "#7570b3",
  "#e7298a",
  "#66a61e",
  "#e6ab02",
  "#a6761d",
  "#1f78b4",
  "#666666",
];

function esc(s: string): string {
  return s.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;");
}

/**
 * CDF of join start -> match_found (both sides, hot bucket), one line per measured phase, on a
 * log time axis, with the 10 ms and 50 ms marks. Hand-written SVG, no dependencies.
 */
export function renderSvg(r: Results): string {
  const W = 860;
  const H = 500;
  const m = { left: 64, right: 220, top: 56, bottom: 56 };
  const pw = W - m.left - m.right;
  const ph = H - m.top - m.bottom;
  const series = r.phases
    .filter((p) => p.kind !== "warmup" && p.hot.samples.length > 0)
    .map((p) => ({
      name: p.name,
      values: [...p.hot.samples].sort((a, b) => a - b),
      dist: p.hot.bothFromJoin,
    }));
  const all = series.flatMap((s) => s.values);
  const lo = 0.5;
  const hiRaw = Math.max(100, ...all);
  const hi = 10 ** Math.ceil(Math.log10(hiRaw));
  const x = (ms: number) =>
    m.left + ((Math.log10(Math.max(lo, ms)) - Math.log10(lo)) / (Math.log10(hi) - Math.log10(lo))) * pw;
  const y = (q: number) => m.top + (1 - q) * ph;
  const parts: string[] = [];
  parts.push(
    `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="system-ui, -apple-system, Segoe UI, sans-serif" font-size="12">`,
  );
  parts.push("<title>Join to match_found latency, CDF per phase</title>");
  parts.push(`<rect width="${W}" height="${H}" fill="#ffffff"/>`);
  parts.push(
    `<text x="${m.left}" y="24" font-size="16" font-weight="600">Join → match_found latency, one hot bucket (CDF, both sides)</text>`,
  );
  parts.push(
    `<text x="${m.left}" y="42" fill="#555">${esc(`${r.date.slice(0, 19).replace("T", " ")} UTC · ${r.machine.cpus} cores shared by client and wrangler dev (workerd), loopback · ${r.command}`)}</text>`,
  );
  // Grid: decades and 2/5 subdivisions on x; 10 % steps on y.
  for (let dec = Math.log10(lo); dec <= Math.log10(hi) + 1e-9; dec++) {
    for (const k of [1, 2, 5]) {
      const v = k * 10 ** Math.floor(dec);
      if (v < lo || v > hi) continue;
      const xx = x(v);
      parts.push(
        `<line x1="${xx.toFixed(1)}" y1="${m.top}" x2="${xx.toFixed(1)}" y2="${m.top + ph}" stroke="${k === 1 ? "#ddd" : "#f0f0f0"}"/>`,
      );
      parts.push(
        `<text x="${xx.toFixed(1)}" y="${m.top + ph + 16}" text-anchor="middle" fill="#444">${v >= 1 ? v : v.toFixed(1)}</text>`,
      );
    }
  }
  for (let q = 0; q <= 10; q++) {
    const yy = y(q / 10);
    parts.push(
      `<line x1="${m.left}" y1="${yy.toFixed(1)}" x2="${m.left + pw}" y2="${yy.toFixed(1)}" stroke="${q % 5 === 0 ? "#ddd" : "#f3f3f3"}"/>`,
    );
    parts.push(
      `<text x="${m.left - 8}" y="${(yy + 4).toFixed(1)}" text-anchor="end" fill="#444">${q * 10}%</text>`,
    );
  }
  // p99 line and targets.
  parts.push(
    `<line x1="${m.left}" y1="${y(0.99).toFixed(1)}" x2="${m.left + pw}" y2="${y(0.99).toFixed(1)}" stroke="#999" stroke-dasharray="2 3"/>`,
  );
  parts.push(
    `<text x="${m.left + pw - 4}" y="${(y(0.99) - 4).toFixed(1)}" text-anchor="end" fill="#777">p99</text>`,
  );
  for (const [ms, label, dy] of [
    [10, "10 ms target (500/s)", 28],
    [50, "50 ms (sustained)", 44],
  ] as const) {
    if (ms > hi) continue;
    parts.push(
      `<line x1="${x(ms).toFixed(1)}" y1="${m.top}" x2="${x(ms).toFixed(1)}" y2="${m.top + ph}" stroke="#c00" stroke-dasharray="5 4"/>`,
    );
    parts.push(`<text x="${(x(ms) + 4).toFixed(1)}" y="${m.top + dy}" fill="#c00">${label}</text>`);
  }
  parts.push(`<rect x="${m.left}" y="${m.top}" width="${pw}" height="${ph}" fill="none" stroke="#888"/>`);
  parts.push(
    `<text x="${m.left + pw / 2}" y="${H - 14}" text-anchor="middle" fill="#222">milliseconds from join start (before the upgrade request), log scale</text>`,
  );
  parts.push(
    `<text transform="translate(16 ${m.top + ph / 2}) rotate(-90)" text-anchor="middle" fill="#222">share of match_found frames</text>`,
  );
  // Curves: at most ~400 points each.
  series.forEach((s, i) => {
    const color = COLORS[i % COLORS.length]!;
    const n = s.values.length;
    const stride = Math.max(1, Math.floor(n / 400));
    const points: string[] = [];
    for (let k = 0; k < n; k += stride)
      points.push(`${x(s.values[k]!).toFixed(1)},${y((k + 1) / n).toFixed(1)}`);
    points.push(`${x(s.values[n - 1]!).toFixed(1)},${y(1).toFixed(1)}`);
    parts.push(`<polyline fill="none" stroke="${color}" stroke-width="2" points="${points.join(" ")}"/>`);
    const ly = m.top + 8 + i * 34;
    parts.push(
      `<line x1="${m.left + pw + 16}" y1="${ly}" x2="${m.left + pw + 40}" y2="${ly}" stroke="${color}" stroke-width="3"/>`,
    );
    parts.push(`<text x="${m.left + pw + 46}" y="${ly + 4}" fill="#222">${esc(s.name)}</text>`);
    if (s.dist) {
      parts.push(
        `<text x="${m.left + pw + 46}" y="${ly + 19}" fill="#666" font-size="11">p50 ${f(s.dist.p50)} · p99 ${f(s.dist.p99)} ms</text>`,
      );
    }
  });
  parts.push("</svg>");
  return `${parts.join("\n")}\n`;
}

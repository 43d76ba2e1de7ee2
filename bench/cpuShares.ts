/**
 * Where the runtime's CPU went, by what it was for: each sample of a V8 CPU profile is charged to
 * the innermost frame on its stack that names one of our concerns (the bundle wrangler builds
 * keeps function names). Code resumed after an `await` has lost its callers, so a sample whose
 * stack names none of them is charged by the module its innermost frame lies in, read from the
 * `// node_modules/...` and `// src/...` markers esbuild leaves in the bundle. What is left is
 * the runtime's own JavaScript (its timers, the Node compatibility layer) or its native work.
 */

export type ProfileNode = {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  children?: number[];
};
export type CpuProfile = {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
  startTime: number;
  endTime: number;
};

const OUTBOX = "outbox -> Postgres (drizzle, Neon driver)";
const JWT = "JWT check (jose)";
const REGISTRY_SQL = "registry, its own SQL (claim / release)";
const BUCKET = "bucket: matching, frames, partyserver";
const ROUTING = "request routing (hono, partyserver's fetch, wrangler's dev middleware)";

/**
 * Most specific first: the first rule that names a frame (innermost frame first) wins. A rule
 * also names where its functions live, since names alone clash (the Neon driver has a `write`
 * too); without the bundle to tell modules apart, names alone decide.
 */
const RULES: ReadonlyArray<{ share: string; frames: readonly string[]; where: RegExp }> = [
  {
    share: "registry call, this side (runtime starts the user's object)",
    frames: ["#claimInRegistry", "#releaseInRegistry"],
    where: /^src\/bucket\//,
  },
  {
    share: REGISTRY_SQL,
    frames: ["UserRegistry", "claim", "release", "liveRoom", "roomOfRequest", "remember", "#remember"],
    where: /^src\/registry\//,
  },
  {
    share: OUTBOX,
    frames: ["#deliverOutbox", "withDatabase", "deliverRecords"],
    where: /^src\/(bucket|db|records)\//,
  },
  {
    share: "bucket SQLite writes",
    frames: ["write", "pruneEnded", "dropOutboxThrough", "loadLive"],
    where: /^src\/bucket\/bucketStorage/,
  },
  { share: JWT, frames: ["verifyToken"], where: /^src\/auth\// },
  {
    share: BUCKET,
    frames: [
      "#admit",
      "onConnect",
      "onMessage",
      "onClose",
      "webSocketMessage",
      "webSocketClose",
      "alarm",
      "onAlarm",
    ],
    where: /^src\/bucket\/|^node_modules\/partyserver\//,
  },
  {
    share: ROUTING,
    frames: ["__facade_invoke__", "dispatch", "fetch"],
    where: /^node_modules\/(hono|wrangler|partyserver)\/|^src\/(http|index\.ts)/,
  },
];
const RUNTIME_NATIVE = new Set(["(program)", "(garbage collector)", "(root)"]);

/** For code resumed after an await: the module a frame lies in says what it was for. */
const MODULE_SHARES: ReadonlyArray<[RegExp, string]> = [
  [/^node_modules\/(@neondatabase|drizzle-orm)\/|^src\/(db|records)\//, OUTBOX],
  [/^node_modules\/jose\/|^src\/auth\//, JWT],
  [/^src\/registry\//, REGISTRY_SQL],
  [/^node_modules\/partyserver\/|^src\/(bucket|matching|protocol|orchestration)\//, BUCKET],
  [/^node_modules\/zod\//, "schema validation (zod), outside the above"],
  [/^node_modules\/(hono|wrangler)\/|^src\/(http|index\.ts)/, ROUTING],
];

/** The module each line of a bundle belongs to, from esbuild's `// path` markers. */
export function moduleLines(bundle: string): (line: number) => string | undefined {
  const starts: Array<[number, string]> = [];
  bundle.split("\n").forEach((text, i) => {
    const m = /^\/\/ ((?:node_modules|src)\/\S+)$/.exec(text);
    if (m) starts.push([i, m[1]!]);
  });
  return (line) => {
    let lo = 0;
    let hi = starts.length - 1;
    let found: string | undefined;
    while (lo <= hi) {
      const mid = (lo + hi) >> 1;
      if (starts[mid]![0] <= line) {
        found = starts[mid]![1];
        lo = mid + 1;
      } else hi = mid - 1;
    }
    return found;
  };
}

export type CpuShare = { share: string; ms: number };

/** CPU per share over the whole profile, busiest first; idle time is left out. */
export function cpuShares(profile: CpuProfile, moduleOf?: (line: number) => string | undefined): CpuShare[] {
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const parent = new Map<number, number>();
  for (const n of profile.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
  /** The bundle module a frame lies in, or the runtime's own script URL. */
  const placeOf = (frame: ProfileNode["callFrame"]): string | undefined =>
    frame.url === "index.js" ? moduleOf?.(frame.lineNumber) : frame.url || undefined;
  const shareOf = new Map<number, string | null>();
  const classify = (leaf: number): string | null => {
    const known = shareOf.get(leaf);
    if (known !== undefined) return known;
    const name = byId.get(leaf)?.callFrame.functionName ?? "";
    let share: string | null;
    if (name === "(idle)") share = null;
    else if (RUNTIME_NATIVE.has(name)) share = "runtime: native work and GC";
    else {
      share = null;
      for (let cur: number | undefined = leaf; cur !== undefined && share === null; cur = parent.get(cur)) {
        const frame = byId.get(cur)!.callFrame;
        const place = placeOf(frame);
        share =
          RULES.find(
            (r) =>
              r.frames.includes(frame.functionName) && (moduleOf === undefined || r.where.test(place ?? "")),
          )?.share ?? null;
      }
      for (let cur: number | undefined = leaf; cur !== undefined && share === null; cur = parent.get(cur)) {
        const path = placeOf(byId.get(cur)!.callFrame);
        if (path) share = MODULE_SHARES.find(([re]) => re.test(path))?.[1] ?? null;
      }
      share ??= "runtime's own JavaScript (timers, Node compatibility layer)";
    }
    shareOf.set(leaf, share);
    return share;
  };
  const totals = new Map<string, number>();
  for (let i = 0; i < profile.samples.length; i++) {
    const share = classify(profile.samples[i]!);
    if (share === null) continue;
    totals.set(share, (totals.get(share) ?? 0) + (profile.timeDeltas[i] ?? 0) / 1000);
  }
  return [...totals].map(([share, ms]) => ({ share, ms: Math.round(ms) })).sort((a, b) => b.ms - a.ms);
}

import type { CoreResult } from "./core.ts";
import type { IncompatibleJoinResult } from "./incompatible.ts";
import type { IncompatibleCoreResult } from "./incompatibleCore.ts";
import type { MultiBucketResult } from "./multiBucketPhase.ts";
import type { FdStats } from "./proc.ts";
import type { RowsResult } from "./rows.ts";
import type { Role } from "./stack.ts";
import type { Dist, PhaseFigures } from "./stats.ts";

/**
 * The shape of a run's results: what bench/run.ts measures, bench/figures.ts reduces and
 * bench/report.ts prints. Types only, so none of those three imports another in a circle.
 */

/** What a run measured: the service, or the runtime floor that bounds it (bench/floor/). */
export type Target = { name: "service" | "floor" | "floor+claim"; description: string };

/** Pairs run one at a time, each alone in a fresh bucket: what one match costs with nothing else on. */
export type SinglePairResult = {
  pairs: number;
  /** Pairs that did not end with both sides matched to each other, the second after the first queued. */
  failed: number;
  /** What went wrong with the failed pairs, by kind. */
  errorKinds: Record<string, number>;
  /** The second user's join start -> its `match_found`, over the pairs that completed. */
  secondJoinToFound: Dist | null;
  samples: number[];
  wallSeconds: number;
};

export type PhaseResult = {
  name: string;
  kind: "warmup" | "burst" | "steady" | "returning";
  /** Target joins/s into the hot bucket (steady steps). */
  targetRate: number | null;
  hot: PhaseFigures;
  cold: PhaseFigures | null;
  /** Stopped early: too many joins unfinished. */
  overloaded: boolean;
  wallSeconds: number;
  cpu: CpuFigures;
};

export type CpuFigures = {
  clientMs: number;
  serverMs: Partial<Record<Role, number>>;
  /** Server CPU per join (workerd runtime + proxy + wrangler), in µs. */
  serverUsPerJoin: number | null;
  clientUsPerJoin: number | null;
};

export type MemoryLevel = {
  /** Level asked for; `opened` is what was reached (less when the time box ran out). */
  waiting: number;
  timeBoxed: boolean;
  /** Sockets open and in the intended state (held: matched, unconfirmed; idle: queued). */
  opened: number;
  /** Joins started that did not end in that state. */
  failed: number;
  rssMb: Partial<Record<Role, number>>;
  runtimeMb: number;
  proxyMb: number;
  /** runtime + proxy */
  workerdMb: number;
  deltaRuntimeMb: number;
  deltaProxyMb: number;
  deltaMb: number;
  /** Runtime workerd (the Worker and every Durable Object) MB per 1,000 sockets over baseline. */
  mbPer1k: number;
  /** wrangler's proxy workerd (relays every socket; no production counterpart), MB per 1,000. */
  proxyMbPer1k: number;
  /** Both workerd processes together, MB per 1,000. */
  workerdMbPer1k: number;
  clientRssMb: number;
  /** Open fds of the runtime workerd (sockets / files), and its soft RLIMIT_NOFILE. */
  runtimeFds: FdStats | null;
  proxyFds: FdStats | null;
  /** The level was lowered so the runtime stays under 85 % of its fd limit. */
  fdCapped: boolean;
  /** Seconds to open this level's new sockets, and the join rate that makes. */
  openSeconds: number;
  joinsPerSec: number;
  /** The same sockets read again once every actor has been idle long enough to be evicted. */
  afterHibernation?: {
    runtimeMb: number;
    proxyMb: number;
    mbPer1k: number;
    proxyMbPer1k: number;
    /** Sockets still open and in their state then (hibernation must not drop them). */
    stillOpen: number;
    /** Open fds then: evicted objects close their SQLite files, so fewer files show eviction. */
    runtimeFds: FdStats | null;
    /** The isolate's live heap then, after a full collection (what objects still hold). */
    heapMb?: number;
    heapMbPer1k?: number;
  };
};

export type MemorySeries = {
  what: string;
  baselineWorkerdMb: number | null;
  baselineRolesMb: Partial<Record<Role, number>>;
  baselineRuntimeFds?: FdStats | null;
  baselineProxyFds?: FdStats | null;
  /** The runtime isolate's live heap (JS + its C++ heap) after a full collection, MB. */
  baselineHeapMb?: number | null;
  levels: MemoryLevel[];
};

export type Results = {
  date: string;
  command: string;
  target: Target;
  machine: { cpus: number; cpuModel: string; memGiB: number; kernel: string; node: string };
  plan: Record<string, unknown>;
  server: Record<string, unknown>;
  /** Times wrangler dev reloaded the Worker mid-run (a source file changed); null if unknown. */
  serverReloads?: number | null;
  core: CoreResult[];
  /** The pure core's join into the incompatible bucket, with a FIFO pairing join timed alike. */
  coreIncompatible: IncompatibleCoreResult;
  phases: PhaseResult[];
  singlePair: SinglePairResult | null;
  /** Joins into the incompatible bucket end to end (null: skipped, as on the floor). */
  incompatibleJoin: IncompatibleJoinResult | null;
  /** Flexible requests across 10 buckets end to end (null: skipped, as on the floor). */
  multiBucket?: MultiBucketResult | null;
  memory: { held: MemorySeries; oneBucketEach: MemorySeries };
  db: Record<string, unknown>;
  sustainedJoinsPerSec: number;
  /** The same for returning users (null when no returning steps ran). */
  returningSustainedJoinsPerSec: number | null;
  sustainedServedJoinsPerSec: number;
  at500: Dist | null;
  wallSeconds: number;
  clientCpuTotalMs: number;
  totals: { users: number; matched: number; ready: number; errors: number };
  /** Primary: runtime workerd MB per 1,000 sockets held by one bucket actor (after hibernation if read). */
  rssMbPer1kWaiting: number | null;
  /** The same, read right after opening them, with every actor still in memory. */
  rssMbPer1kWaitingActive: number | null;
  /** The isolate's live heap per 1,000 of those sockets after 14 s idle (what objects keep). */
  heapMbPer1kWaiting: number | null;
  /** Whether rssMbPer1kWaiting was read after the actors hibernated. */
  rssMbPer1kWaitingHibernated: boolean;
  /** Same sockets, wrangler's proxy workerd (a `wrangler dev` cost). */
  rssMbPer1kWaitingProxy: number | null;
  /** How many held sockets that figure was read at. */
  rssMbPer1kWaitingLevel: number | null;
  /** Secondary: runtime workerd MB per 1,000 waiting sockets, one bucket each (DO instances). */
  rssMbPer1kWaitingOneBucketEach: number | null;
  /** Rows written and requests per outcome (null: skipped, as on the floor or with --url). */
  rows?: RowsResult | null;
};

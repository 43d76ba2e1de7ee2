import { readdirSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { parseArgs } from "node:util";
import { mintDevToken } from "../src/auth/devToken.ts";
import { DEV_JWT_SECRET } from "../src/config.ts";
import { type CpuProfile, cpuShares, moduleLines } from "./cpuShares.ts";
import { Inspector } from "./inspector.ts";
import { PROJECT_ROOT, startStack } from "./stack.ts";
import { SimUser } from "./users.ts";

/**
 * `npm run bench:profile -- [--rate 40] [--seconds 10] [--mode pairs|rejoin|idle]`: a V8 CPU profile of the
 * workerd runtime (the Worker and every Durable Object) while simulated users join, taken over
 * the runtime's own inspector (Chrome DevTools Protocol). Prints the top functions by self time
 * and writes bench/results/<timestamp>.cpuprofile (open it in Chrome DevTools > Performance).
 * Timing inside the actor is otherwise impossible: this is how we see where server CPU goes.
 */

const { values } = parseArgs({
  options: {
    rate: { type: "string", default: "40" },
    seconds: { type: "string", default: "10" },
    mode: { type: "string", default: "pairs" },
  },
});
const rate = Number(values.rate);
const seconds = Number(values.seconds);

type Profile = CpuProfile;
type Node = CpuProfile["nodes"][number];

async function main() {
  const stamp = new Date().toISOString().replace(/[:.]/g, "-");
  const secret = DEV_JWT_SECRET;
  const stack = await startStack({
    secret,
    logPath: join(PROJECT_ROOT, "bench", "results", `${stamp}.profile-server.log`),
    env: { MATCH_TIMEOUT_SECONDS: "900" },
  });
  try {
    const wsBase = stack.base.replace(/^http/, "ws");
    const cdp = await Inspector.connect(stack.workerdPids());
    if (!cdp) throw new Error("no workerd inspector found");
    const total = Math.round(rate * seconds);
    const tokens = await Promise.all(
      Array.from({ length: total + 20 }, (_, i) => mintDevToken(secret, `prof-${i}`, { ttlSeconds: 3600 })),
    );
    const room = (i: number) => (values.mode === "idle" ? `easy.prof-i${i}` : "easy.prof-hot");
    // Warm up outside the profile.
    await Promise.all(
      Array.from({ length: 20 }, (_, i) =>
        new SimUser(`prof-${total + i}`, "easy.prof-warm", tokens[total + i]!).start(wsBase, "confirm"),
      ),
    );
    await sleep(1500);
    const playAll = async () => {
      const pending: Promise<void>[] = [];
      const t0 = performance.now();
      for (let i = 0; i < total; i++) {
        const wait = (i * 1000) / rate - (performance.now() - t0);
        if (wait > 0) await sleep(wait);
        pending.push(
          new SimUser(`prof-${i}`, room(i), tokens[i]!).start(
            wsBase,
            values.mode === "idle" ? "idle" : "confirm",
          ),
        );
      }
      await Promise.race([Promise.all(pending), sleep(20_000)]);
    };
    // rejoin: every user has played once before (its registry object exists), as returning users have.
    if (values.mode === "rejoin") {
      await playAll();
      await sleep(1500);
    }
    await cdp.send("Profiler.enable");
    await cdp.send("Profiler.setSamplingInterval", { interval: 250 });
    await cdp.send("Profiler.start");
    await playAll();
    await sleep(1000);
    const { profile } = (await cdp.send("Profiler.stop")) as { profile: Profile };
    cdp.close();
    // The bundle wrangler is running (deleted when it stops): its module markers name each line.
    const bundle = newestBundle();
    const path = join(PROJECT_ROOT, "bench", "results", `${stamp}.cpuprofile`);
    writeFileSync(path, JSON.stringify(profile));
    // Kept beside the profile: its line numbers are the profile's.
    if (bundle !== undefined) writeFileSync(path.replace(/\.cpuprofile$/, ".bundle.js"), bundle);
    summarize(profile, path, total, bundle === undefined ? undefined : moduleLines(bundle));
  } finally {
    await stack.stop();
  }
}

function newestBundle(): string | undefined {
  const dir = join(PROJECT_ROOT, ".wrangler", "tmp");
  try {
    const newest = readdirSync(dir)
      .filter((d) => d.startsWith("dev-"))
      .map((d) => join(dir, d, "index.js"))
      .sort((a, b) => statSync(b).mtimeMs - statSync(a).mtimeMs)[0];
    return newest ? readFileSync(newest, "utf8") : undefined;
  } catch {
    return undefined;
  }
}

function summarize(p: Profile, path: string, joins: number, moduleOf?: (line: number) => string | undefined) {
  const byId = new Map(p.nodes.map((n) => [n.id, n]));
  const parent = new Map<number, number>();
  for (const n of p.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
  const self = new Map<number, number>();
  for (let i = 0; i < p.samples.length; i++)
    self.set(p.samples[i]!, (self.get(p.samples[i]!) ?? 0) + (p.timeDeltas[i] ?? 0));
  const totalUs = p.endTime - p.startTime;
  const label = (n: Node) => {
    const file = n.callFrame.url.split("/").slice(-2).join("/");
    const module = file === "index.js" ? moduleOf?.(n.callFrame.lineNumber) : undefined;
    return `${n.callFrame.functionName || "(anonymous)"} ${file}:${n.callFrame.lineNumber + 1}${module ? ` (${module})` : ""}`;
  };
  const selfBy = new Map<string, number>();
  const inclusive = new Map<string, number>();
  for (const [id, us] of self) {
    const n = byId.get(id)!;
    selfBy.set(label(n), (selfBy.get(label(n)) ?? 0) + us);
    const seen = new Set<string>();
    for (let cur: number | undefined = id; cur !== undefined; cur = parent.get(cur)) {
      const l = label(byId.get(cur)!);
      if (seen.has(l)) continue;
      seen.add(l);
      inclusive.set(l, (inclusive.get(l) ?? 0) + us);
    }
  }
  const idle = [...selfBy].filter(([l]) => l.startsWith("(idle)")).reduce((a, [, v]) => a + v, 0);
  console.log(`profile: ${path}`);
  console.log(`wall ${(totalUs / 1000).toFixed(0)} ms, busy ${((totalUs - idle) / 1000).toFixed(0)} ms`);
  // V8 samples the thread on a wall clock, so under load these are shares of the thread's busy
  // time, not CPU: the bench's /proc figures are the CPU (see docs/performance.md).
  console.log(`busy samples by what they were for (${joins} joins):`);
  if (!moduleOf) console.log("  (bundle not found: code resumed after an await is not attributed)");
  const shares = cpuShares(p, moduleOf);
  const busy = shares.reduce((n, x) => n + x.ms, 0);
  for (const { share, ms } of shares) {
    console.log(`  ${((100 * ms) / busy).toFixed(1).padStart(5)} %  ${share}`);
  }
  console.log("top self time:");
  for (const [l, us] of [...selfBy].sort((a, b) => b[1] - a[1]).slice(0, 30)) {
    console.log(`  ${(us / 1000).toFixed(1).padStart(8)} ms  ${l}`);
  }
  console.log("top inclusive time:");
  for (const [l, us] of [...inclusive].sort((a, b) => b[1] - a[1]).slice(0, 90)) {
    console.log(`  ${(us / 1000).toFixed(1).padStart(8)} ms  ${l}`);
  }
}

await main();

import { performance } from "node:perf_hooks";
import { setTimeout as sleep } from "node:timers/promises";
import { pool } from "./pool.ts";
import type { Progress } from "./progress.ts";
import { type Dist, dist } from "./stats.ts";
import { SimUser } from "./users.ts";

/**
 * Flexible requests end to end: `users` users join across `buckets` buckets of one
 * difficulty, each waiting in 2 to 4 of them at once (`&also=`), `concurrency` joins in flight
 * at a time, and confirm on `match_found`. Each matched user's join start -> its match_found, and
 * how many hand-overs homes granted and refused meanwhile (read from `/metrics`).
 */

export type MultiBucketResult = {
  users: number;
  buckets: number;
  /** Users that got match_found (and so a figure). */
  matched: number;
  /** Users that got match_found but no match_ready, or an error. */
  failed: number;
  errorKinds: Record<string, number>;
  joinToFound: Dist | null;
  /** Buckets per request asked for, on average (2 to 4). */
  bucketsPerRequest: number;
  /** Hand-over asks answered by homes during the phase; null when /metrics could not be read. */
  handOvers: { granted: number; refused: number } | null;
  wallSeconds: number;
};

/** A fixed pseudo-random sequence, so runs ask for the same buckets. */
function lcg(seed: number): () => number {
  let x = seed >>> 0;
  return () => {
    x = (Math.imul(x, 1664525) + 1013904223) >>> 0;
    return x / 2 ** 32;
  };
}

export async function runMultiBucketJoins(input: {
  wsBase: string;
  httpBase: string;
  topicPrefix: string;
  users: number;
  buckets: number;
  concurrency: number;
  mint: (count: number) => Promise<Array<{ id: string; token: string }>>;
  progress: Progress;
}): Promise<MultiBucketResult> {
  const { wsBase, httpBase, topicPrefix, users, buckets, concurrency, mint, progress } = input;
  const started = performance.now();
  const random = lcg(13);
  const rooms = Array.from({ length: buckets }, (_, i) => `medium.${topicPrefix}-${i}`);
  let asked = 0;
  const sims = (await mint(users)).map((u) => {
    const count = 2 + Math.floor(random() * 3);
    const chosen: string[] = [];
    while (chosen.length < count) {
      const room = rooms[Math.floor(random() * rooms.length)]!;
      if (!chosen.includes(room)) chosen.push(room);
    }
    asked += count;
    return new SimUser(u.id, chosen[0]!, u.token, undefined, `&also=${chosen.slice(1).join(",")}`);
  });
  const before = await readHandOvers(httpBase);
  progress.start(`flexible requests: ${users} users across ${buckets} buckets, 2-4 each`, users);
  let done = 0;
  await pool(sims, concurrency, async (u) => {
    const late = await Promise.race([
      u.start(wsBase, "confirm").then(() => false),
      sleep(15_000).then(() => true),
    ]);
    if (late && u.matched) u.error ??= "no match_ready within 15 s";
    progress.set(++done);
  });
  const matched = sims.filter((u) => u.matched);
  const figure = dist(matched.map((u) => u.tFound - u.tJoin));
  progress.end(`p50 ${figure?.p50 ?? "-"} ms, ${matched.length} matched`);

  // Whoever is left (an odd one out, or no partner in any of its buckets) leaves.
  const left = sims.filter((u) => u.ws?.readyState === 1 && !u.ready);
  await pool(left, 64, (u) => u.leave(3_000));
  for (const u of sims) u.terminate();
  // Buckets report their counts to the directory a second after a change.
  await sleep(2_500);
  const after = await readHandOvers(httpBase);
  const errorKinds: Record<string, number> = {};
  let failed = 0;
  for (const u of matched) {
    if (u.ready && u.error === undefined) continue;
    failed++;
    const kind = (u.error ?? "no match_ready").replace(/\d{4,}/g, "N");
    errorKinds[kind] = (errorKinds[kind] ?? 0) + 1;
  }
  return {
    users,
    buckets,
    matched: matched.length,
    failed,
    errorKinds,
    joinToFound: figure,
    bucketsPerRequest: Math.round((asked / users) * 100) / 100,
    handOvers:
      before && after
        ? { granted: after.granted - before.granted, refused: after.refused - before.refused }
        : null,
    wallSeconds: Math.round((performance.now() - started) / 10) / 100,
  };
}

async function readHandOvers(httpBase: string): Promise<{ granted: number; refused: number } | null> {
  try {
    const text = await (await fetch(`${httpBase}/metrics`)).text();
    const value = (result: string) => {
      const line = text.split("\n").find((l) => l.startsWith(`matcher_handovers_total{result="${result}"}`));
      return Number(line?.split(" ").at(-1));
    };
    const granted = value("granted");
    const refused = value("refused");
    return Number.isFinite(granted) && Number.isFinite(refused) ? { granted, refused } : null;
  } catch {
    return null;
  }
}

import { setTimeout as sleep } from "node:timers/promises";
import WebSocket from "ws";
import type { MeterSnapshot } from "./meterSnapshot.ts";
import { pool } from "./pool.ts";
import { PRICES } from "./prices.ts";
import type { Progress } from "./progress.ts";
import {
  perOutcome,
  type RowsResult,
  type RowsScenario,
  rowsResult,
  type Usage,
  usageBetween,
} from "./rows.ts";
import { SimUser } from "./users.ts";

/**
 * The rows phase: what each outcome writes, read from the runtime's counters. Runs against a
 * stack started with the metered entry (bench/storage/worker.ts) and a short queue timeout
 * (ROWS_STACK_ENV), one scenario at a time: confirmed matches with each pair alone in its
 * bucket (low traffic), a burst of pairs into one bucket (busy), requests that leave, requests
 * that time out, each in a bucket that already exists. After each, once everything settled (records delivered, figures reported), the
 * clock moves past every retention and the alarms that are set fire: the prune is counted with
 * the outcome that left the rows.
 */

export const ROWS_STACK_ENV = {
  BENCH_WORKER_ENTRY: "bench/storage/worker.ts",
  MATCH_TIMEOUT_SECONDS: "2",
};

/** Past the bucket's hour of ended rows, the registry's three hours of routing notes and the cooldown. */
const PRUNE_JUMP_MS = 4 * 3_600_000;

export type RowsPlan = { quietPairs: number; busyPairs: number; cancelled: number; timedOut: number };

export type RowsInput = {
  base: string;
  wsBase: string;
  plan: RowsPlan;
  /** Fresh user ids and their tokens. */
  mint: (tag: string, count: number) => Promise<Minted[]>;
  /** A bucket nobody else in the run uses. */
  freshRoom: () => string;
  progress: Progress;
};

async function meter(base: string): Promise<MeterSnapshot> {
  const response = await fetch(`${base}/__bench/meter`);
  if (!response.ok)
    throw new Error(`/__bench/meter answered ${response.status}: is the metered entry running?`);
  return (await response.json()) as MeterSnapshot;
}

const activity = (s: MeterSnapshot) => JSON.stringify([s.rows, s.requests]);

/**
 * Wait until the counters stop moving for 3 s (outbox delivery and figure reports wait a second
 * each; registry releases go in batches), at most 30 s.
 */
async function settled(base: string): Promise<MeterSnapshot> {
  let last = await meter(base);
  let still = 0;
  const deadline = Date.now() + 30_000;
  while (Date.now() < deadline && still < 3_000) {
    await sleep(500);
    const now = await meter(base);
    still = activity(now) === activity(last) ? still + 500 : 0;
    last = now;
  }
  return last;
}

async function post(base: string, path: string): Promise<void> {
  const response = await fetch(`${base}${path}`, { method: "POST" });
  if (!response.ok) throw new Error(`${path} answered ${response.status}`);
  await response.arrayBuffer();
}

/**
 * The clock moves past every retention, the alarms set in the objects written since the last
 * prune fire, and once their work settled the clock goes back, so what runs next runs at the
 * time its sockets and tokens live in.
 */
async function prune(base: string): Promise<MeterSnapshot> {
  await post(base, `/__bench/prune?ms=${PRUNE_JUMP_MS}`);
  const after = await settled(base);
  await post(base, `/__bench/clock?ms=${-PRUNE_JUMP_MS}`);
  return after;
}

async function waitUntil(done: () => boolean, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (!done()) {
    if (Date.now() > deadline) return false;
    await sleep(20);
  }
  return true;
}

/** One pair into `room`, the second joining once the first waits; true if both confirmed. */
async function onePair(
  wsBase: string,
  room: string,
  a: Minted,
  b: Minted,
  log: (line: string) => void,
): Promise<boolean> {
  const first = new SimUser(a.id, room, a.token);
  const second = new SimUser(b.id, room, b.token);
  const done = first.start(wsBase, "confirm");
  await waitUntil(() => !Number.isNaN(first.tQueued) || first.error !== undefined, 5_000);
  await Promise.race([Promise.all([done, second.start(wsBase, "confirm")]), sleep(10_000)]);
  first.terminate();
  second.terminate();
  if (!(first.ready && second.ready)) {
    const state = (u: SimUser) => u.error ?? (u.matched ? "matched, not ready" : "not matched");
    log(`  pair in ${room} unfinished: first ${state(first)}, second ${state(second)}`);
  }
  return first.ready && second.ready;
}

type Minted = { id: string; token: string };

/** The user's own channel (`/parties/user/{id}`), open; null if it did not open within 5 s. */
async function openChannel(wsBase: string, u: Minted): Promise<{ close(): Promise<void> } | null> {
  const ws = new WebSocket(`${wsBase}/parties/user/${encodeURIComponent(u.id)}?token=${u.token}`);
  const opened = await Promise.race([
    new Promise<boolean>((done) => {
      ws.once("open", () => done(true));
      ws.once("error", () => done(false));
      ws.once("unexpected-response", () => done(false));
    }),
    sleep(5_000).then(() => false),
  ]);
  if (!opened) {
    ws.terminate();
    return null;
  }
  return {
    close: () =>
      new Promise<void>((done) => {
        const timer = setTimeout(() => {
          ws.terminate();
          done();
        }, 3_000);
        ws.once("close", () => {
          clearTimeout(timer);
          done();
        });
        ws.close(1000);
      }),
  };
}

export async function runRowsPhase(input: RowsInput): Promise<RowsResult> {
  const { base, wsBase, plan, progress } = input;
  const scenarios: RowsScenario[] = [];

  // Every bucket measured below exists already, as the buckets of a running service do: one
  // pair matched in each, then everything pruned, before the first reading. (A bucket's first
  // wake writes its schema, a name and a first report: once in its life, not per match.)
  const roomsNeeded = plan.quietPairs + 1 + plan.cancelled + plan.timedOut;
  const rooms = Array.from({ length: roomsNeeded }, () => input.freshRoom());
  const warmUsers = await input.mint("rw", rooms.length * 2);
  progress.start("rows: one pair in each bucket to be measured", rooms.length);
  await pool(rooms, 4, async (room) => {
    const i = rooms.indexOf(room);
    await onePair(wsBase, room, warmUsers[2 * i]!, warmUsers[2 * i + 1]!, (l) => progress.log(l));
    progress.tick();
  });
  progress.end();
  await settled(base);
  await prune(base);
  const quietRooms = rooms.slice(0, plan.quietPairs);
  const busyRoom = rooms[plan.quietPairs]!;
  const cancelRooms = rooms.slice(plan.quietPairs + 1, plan.quietPairs + 1 + plan.cancelled);
  const timeoutRooms = rooms.slice(plan.quietPairs + 1 + plan.cancelled);

  const scenario = async (
    name: string,
    outcome: RowsScenario["outcome"],
    run: () => Promise<number>,
  ): Promise<void> => {
    const before = await settled(base);
    const count = await run();
    progress.start(`${name}: settling, then the prune`, 1);
    const live = await settled(base);
    const after = await prune(base);
    const liveUsage: Usage = usageBetween(before, live);
    const pruneUsage: Usage = usageBetween(live, after);
    const per = perOutcome(liveUsage, pruneUsage, count, PRICES);
    progress.end(`${per.rows} rows (${per.rowsPrune} at prune), ${per.requests} requests each`);
    scenarios.push({ name, outcome, count, live: liveUsage, prune: pruneUsage, per });
  };

  // One pair at a time, each in a bucket with nobody else: a match at low traffic.
  await scenario("match, quiet bucket", "match", async () => {
    const users = await input.mint("rq", quietRooms.length * 2);
    progress.start("rows: pairs one at a time, each in a quiet bucket", quietRooms.length);
    let ready = 0;
    for (const [i, room] of quietRooms.entries()) {
      if (await onePair(wsBase, room, users[2 * i]!, users[2 * i + 1]!, (l) => progress.log(l))) ready++;
      progress.set(i + 1);
    }
    progress.end(`${ready} confirmed`);
    return ready;
  });

  // The same, with both users' own channel open first (as the demo page keeps it): what a
  // watched request adds (the registry's note of it, the request updates the channel hears).
  // Users who have had their channel before: a user's object is created once in its life.
  const channelUsers = await input.mint("rh", quietRooms.length * 2);
  await pool(channelUsers, 4, async (u) => (await openChannel(wsBase, u))?.close());
  await settled(base);
  await prune(base);
  await scenario("match, quiet bucket, own channels open", "matchWithChannels", async () => {
    const users = channelUsers;
    progress.start("rows: pairs one at a time, each user's channel open", quietRooms.length);
    let ready = 0;
    for (const [i, room] of quietRooms.entries()) {
      const pair = [users[2 * i]!, users[2 * i + 1]!];
      const channels = await Promise.all(pair.map((u) => openChannel(wsBase, u)));
      if (channels.every((c) => c !== null)) {
        if (await onePair(wsBase, room, pair[0]!, pair[1]!, (l) => progress.log(l))) ready++;
      } else progress.log(`  a channel in ${room} did not open`);
      await Promise.all(channels.map((c) => c?.close()));
      progress.set(i + 1);
    }
    progress.end(`${ready} confirmed`);
    return ready;
  });

  // Every socket at once into one bucket: a busy bucket, whose writes batch.
  await scenario("match, busy bucket", "match", async () => {
    const users = await input.mint("rb", plan.busyPairs * 2);
    const sims = users.map((u) => new SimUser(u.id, busyRoom, u.token));
    progress.start("rows: a burst of pairs into one bucket", sims.length);
    let done = 0;
    await Promise.race([
      Promise.all(sims.map((u) => u.start(wsBase, "confirm").then(() => progress.set(++done)))),
      sleep(20_000),
    ]);
    for (const u of sims) u.terminate();
    const ready = sims.filter((u) => u.ready).length;
    const errors = new Map<string, number>();
    for (const u of sims)
      if (!u.ready) errors.set(u.error ?? "unfinished", (errors.get(u.error ?? "unfinished") ?? 0) + 1);
    progress.end(
      `${ready / 2} confirmed${errors.size > 0 ? `; not: ${JSON.stringify(Object.fromEntries(errors))}` : ""}`,
    );
    return Math.floor(ready / 2);
  });

  /** Each user alone in their room: joins, waits, leaves. Answers how many left. */
  const leaveRound = async (rooms: string[], users: Minted[]): Promise<number> => {
    progress.start("rows: requests that leave", users.length);
    let left = 0;
    await pool(rooms, 4, async (room) => {
      const u = users[rooms.indexOf(room)]!;
      const sim = new SimUser(u.id, room, u.token);
      await Promise.race([sim.start(wsBase, "idle"), sleep(5_000)]);
      if (!Number.isNaN(sim.tQueued)) {
        await sim.leave(3_000);
        left++;
      }
      sim.terminate();
      progress.set(left);
    });
    progress.end();
    return left;
  };

  /** Each user alone in their room until the queue time (MATCH_TIMEOUT_SECONDS) runs out. */
  const timeoutRound = async (rooms: string[], users: Minted[]): Promise<number> => {
    progress.start("rows: requests that time out", users.length);
    let timedOut = 0;
    await pool(rooms, 8, async (room) => {
      const u = users[rooms.indexOf(room)]!;
      const sim = new SimUser(u.id, room, u.token);
      await Promise.race([sim.start(wsBase, "idle"), sleep(5_000)]);
      const closed = await waitUntil(() => !Number.isNaN(sim.tClosed), 15_000);
      if (!Number.isNaN(sim.tQueued) && closed && !sim.matched) timedOut++;
      sim.terminate();
      progress.set(timedOut);
    });
    progress.end();
    return timedOut;
  };

  // A request that ends unmatched releases its registry claim with the next claim its bucket
  // sends to that shard, not at once (RegistryClient). So the same users go twice: the first
  // round only leaves its releases waiting (its bucket rows pruned before the reading), and the
  // measured round carries them, as every later request of a returning user does.
  for (const [name, outcome, rooms, round] of [
    ["cancelled", "cancelled", cancelRooms, leaveRound],
    ["timed out", "timedOut", timeoutRooms, timeoutRound],
  ] as const) {
    const users = await input.mint(outcome === "cancelled" ? "rc" : "rt", rooms.length);
    await round(rooms, users);
    await settled(base);
    await prune(base);
    await scenario(name, outcome, () => round(rooms, users));
  }

  const end = await meter(base);
  return rowsResult(scenarios, end, PRICES);
}

import { performance } from "node:perf_hooks";
import { setTimeout as sleep } from "node:timers/promises";
import {
  type IncompatibleJoinResult,
  interviewerRating,
  joinerRating,
  newestInterviewer,
} from "./incompatible.ts";
import { pool } from "./pool.ts";
import type { Progress } from "./progress.ts";
import { dist } from "./stats.ts";
import { SimUser } from "./users.ts";

/**
 * The incompatible-bucket phase end to end (bench/incompatible.ts): `waiting` interviewers in one
 * fresh bucket, then `joiners` interviewees one at a time, each fitting only the newest waiting
 * interviewer, with one more interviewer joining before each later joiner so every measured join
 * faces `waiting` again. Each joiner's join start -> its match_found, as the single pair measures
 * its second join, so the two figures of a run compare.
 */

/** Fresh users with tokens carrying `rating(i)` as the rating claim. */
export type MintRated = (
  tag: string,
  count: number,
  rating: (i: number) => number,
) => Promise<Array<{ id: string; token: string }>>;

export async function runIncompatibleJoins(input: {
  wsBase: string;
  room: string;
  waiting: number;
  joiners: number;
  mintRated: MintRated;
  progress: Progress;
}): Promise<IncompatibleJoinResult> {
  const { wsBase, room, waiting, joiners, mintRated, progress } = input;
  const started = performance.now();
  const interviewers = (
    await mintRated("x", newestInterviewer(joiners - 1, waiting) + 1, interviewerRating)
  ).map((u) => new SimUser(u.id, room, u.token, "interviewer"));
  const joinerUsers = (await mintRated("y", joiners, (j) => joinerRating(j, waiting))).map(
    (u) => new SimUser(u.id, room, u.token, "interviewee"),
  );
  const openWaiter = async (u: SimUser) => {
    const late = await Promise.race([
      u.start(wsBase, "waiter").then(() => false),
      sleep(30_000).then(() => true),
    ]);
    if (late) u.error ??= "no queued within 30 s";
  };

  // All but the newest at once (their order among themselves does not matter: each joiner looks
  // at every one of them); the newest alone after them, so it is last in the queue.
  progress.start(`incompatible bucket: opening ${waiting} interviewers`, waiting);
  let opened = 0;
  await pool(interviewers.slice(0, waiting - 1), 50, async (u) => {
    await openWaiter(u);
    progress.set(++opened);
  });
  await openWaiter(interviewers[waiting - 1]!);
  const openSeconds = (performance.now() - started) / 1000;
  const notWaiting = interviewers
    .slice(0, waiting)
    .filter((u) => Number.isNaN(u.tQueued) || u.matched).length;
  progress.end(
    `${(waiting / openSeconds).toFixed(0)} joins/s${notWaiting > 0 ? `, ${notWaiting} not waiting` : ""}`,
  );

  progress.start(
    `incompatible bucket: ${joiners} joins, each fitting only the newest of ${waiting}`,
    joiners,
  );
  const joinToFound: number[] = [];
  let shortQueue = 0;
  const errorKinds: Record<string, number> = {};
  let failed = 0;
  for (let j = 0; j < joiners; j++) {
    const partner = interviewers[newestInterviewer(j, waiting)]!;
    if (j > 0) await openWaiter(partner);
    const joiner = joinerUsers[j]!;
    const late = await Promise.race([
      joiner.start(wsBase, "confirm").then(() => false),
      sleep(10_000).then(() => true),
    ]);
    if (late) joiner.error ??= "unfinished after 10 s";
    // `queued` comes before the pairing: its position says how many were waiting ahead.
    if (joiner.queuedPosition !== waiting + 1) shortQueue++;
    if (joiner.matched && joiner.partnerId === partner.id && partner.error === undefined)
      joinToFound.push(joiner.tFound - joiner.tJoin);
    else {
      failed++;
      const kind = (
        partner.error !== undefined
          ? `newest interviewer: ${partner.error}`
          : joiner.matched
            ? "paired with another interviewer"
            : (joiner.error ?? "no match_found")
      ).replace(/\d{4,}/g, "N");
      errorKinds[kind] = (errorKinds[kind] ?? 0) + 1;
    }
    progress.set(j + 1);
  }
  const figure = dist(joinToFound);
  progress.end(`p50 ${figure?.p50 ?? "-"} ms`);

  // Whoever still waits leaves (a leave ends the request at once; a dropped socket would keep
  // it for the reconnect grace, into the next phase).
  const left = interviewers.filter((u) => u.ws?.readyState === 1 && !u.matched);
  progress.start("incompatible bucket: the rest leave", left.length);
  let gone = 0;
  await pool(left, 128, async (u) => {
    await u.leave(3_000);
    progress.set(++gone);
  });
  for (const u of [...interviewers, ...joinerUsers]) u.terminate();
  progress.end();
  const round2 = (x: number) => Math.round(x * 100) / 100;
  return {
    waiting,
    joiners,
    failed,
    errorKinds,
    joinToFound: figure,
    shortQueue,
    openSeconds: round2(openSeconds),
    wallSeconds: round2((performance.now() - started) / 1000),
  };
}

import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { mintDevToken } from "../../src/auth/devToken.ts";
import { requestView } from "../../src/protocol/http.ts";
import { type MatchRecord, matchHistorySchema } from "../../src/records/recordSchemas.ts";
import { waitFor } from "../support/localProcesses.ts";
import {
  awaitGone,
  crashServer,
  READY_TIMEOUT_MS,
  type Server,
  startServer,
  stopServers,
} from "../support/localServer.ts";
import { ReconnectingUser } from "../support/reconnectingUser.ts";

/**
 * CONTRACT "A crash is an eviction", against `npm start` (wrangler dev): every process of the
 * service is killed with SIGKILL in the middle of a burst of flexible requests and started again
 * on the same LOCAL_DATA_DIR, while the users' clients reconnect as the SDK does (every second,
 * with `resume=<the last request id they saw>`); once pairing has settled, whoever still waits
 * leaves. Then: every request a user was told of is still known; each user heard the end of
 * their session (`match_ready`, `cancelled`, ...) for the one request their join made; nobody
 * is in two confirmed matches; each confirmed match is in the records once, as its users were
 * told; nobody is left waiting. Each run crashes at another moment of its burst, on the state
 * the runs before it left.
 */

const SECRET = "crash-test-secret-0123456789abcdef0123456789ab";
const SETTINGS = {
  // Long enough that no request is cancelled for a missing socket while the service is down.
  RECONNECT_GRACE_SECONDS: "60",
  // Longer than a restart: a request waiting at the crash is still there after it.
  MATCH_TIMEOUT_SECONDS: "120",
  // Shorter than most restarts (10-50 s for wrangler on two shared cores): a match proposed at
  // the crash usually falls through while the service is down, and its users are owed that.
  CONFIRM_TIMEOUT_SECONDS: "8",
};
const USERS = 60;
const BUCKETS = 5;
/** Users arrive spread over this long; the crash comes during it or just after. */
const BURST_MS = 1_500;
/** After the restart, how long the users have to be paired: until nothing new for `QUIET_MS`. */
const SETTLE_MS = 25_000;
const QUIET_MS = 3_000;

let server: Server;
let run = 0;

beforeAll(async () => {
  server = await startServer(SECRET, SETTINGS);
}, READY_TIMEOUT_MS + 10_000);

afterAll(stopServers);

/** A small seeded generator, so a failing run's users can be made again. */
function seeded(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4_294_967_296;
  };
}

/** Users each waiting in 1-4 of the run's buckets, home first, arriving over `BURST_MS`. */
function burst(seed: number, tag: string): { user: ReconnectingUser; startAt: number }[] {
  const random = seeded(seed);
  const rooms = Array.from({ length: BUCKETS }, (_, i) => `easy.crash-${tag}-${i}`);
  return Array.from({ length: USERS }, (_, i) => {
    const shuffled = [...rooms].sort(() => random() - 0.5);
    const [home, ...others] = shuffled.slice(0, 1 + Math.floor(random() * 4));
    const user = new ReconnectingUser({
      host: server.base,
      secret: SECRET,
      userId: `u${i}-${tag}`,
      home: home!,
      also: others,
    });
    return { user, startAt: Math.floor(random() * BURST_MS) };
  });
}

async function api(userId: string, path: string): Promise<Response> {
  return fetch(`http://${server.base}/api/v1/matching${path}`, {
    headers: { authorization: `Bearer ${await mintDevToken(SECRET, userId)}` },
  });
}

async function historyOf(userId: string): Promise<MatchRecord[]> {
  const res = await api(userId, "/me/matches?limit=50");
  if (res.status !== 200) throw new Error(`GET /me/matches for ${userId}: ${res.status} ${await res.text()}`);
  return matchHistorySchema.parse(await res.json()).matches;
}

/**
 * What every user saw, a line each, for reading a failure: each frame and close with its
 * connection (`c3`) and its time from the crash; connects that never opened are only counted.
 */
function transcript(users: ReconnectingUser[], crashedAt: number): string {
  const when = (at: number) => `${at >= crashedAt ? "+" : ""}${at - crashedAt}ms`;
  return users
    .map((u) => {
      const heard = new Set(u.seen.map((s) => s.connection));
      const events = [
        ...u.seen.map((s) => {
          const f = s.frame;
          const id = "requestId" in f ? ` ${f.requestId}` : "matchId" in f ? ` ${f.matchId}` : "";
          const reason = "reason" in f ? `(${f.reason})` : "";
          const room = f.type === "match_found" ? ` in ${f.room}` : "";
          return { at: s.at, text: `c${s.connection} ${when(s.at)} ${f.type}${reason}${id}${room}` };
        }),
        ...u.closes
          .filter((c) => heard.has(c.connection) || c.code !== 1006)
          .map((c) => ({ at: c.at, text: `c${c.connection} ${when(c.at)} close ${c.code}` })),
      ].sort((a, b) => a.at - b.at);
      const failed = u.closes.filter((c) => !heard.has(c.connection) && c.code === 1006).length;
      return (
        `  ${u.userId} [${[u.home, ...u.also].join(" ")}]: ${events.map((e) => e.text).join(", ")}` +
        ` (${failed} connects failed)`
      );
    })
    .join("\n");
}

/** The request ids a user was told of, in order. */
function requestIdsOf(u: ReconnectingUser): string[] {
  return [...new Set(u.seen.flatMap((s) => ("requestId" in s.frame ? [s.frame.requestId] : [])))];
}

/**
 * What the service says now of a request a user was told of: its status (a request that ended
 * while its user was away is an outcome owed to them), or null when it does not know it at all
 * (lost in the crash).
 */
async function fateOf(userId: string, requestId: string): Promise<string | null> {
  const res = await api(userId, `/request/${requestId}`);
  if (res.status === 404) return null;
  const view = requestView.parse(await res.json());
  return `${view.status}${view.outcome ? ` (${view.outcome})` : ""}`;
}

/**
 * Every broken promise, one line each naming the user and the invariant. `records` is each
 * user's match history; `live` each user's `GET /me/request` status at the end; `fates` what
 * became of each request a user was told of, by id.
 */
function violations(
  users: ReconnectingUser[],
  records: Map<string, MatchRecord[]>,
  live: Map<string, number>,
  fates: Map<string, string | null>,
): string[] {
  const found: string[] = [];
  const readyWith = new Map<string, { matchId: string; partnerId: string }>();
  for (const u of users) {
    const requestIds = requestIdsOf(u);
    for (const id of requestIds)
      if (fates.get(id) === null) found.push(`${u.userId}: request ${id} it was told of is lost (404 now)`);
    if (requestIds.length > 1)
      found.push(
        `${u.userId}: one join, ${requestIds.length} request ids (${requestIds.join(", ")}); ` +
          `the first is now ${fates.get(requestIds[0]!) ?? "unknown"}`,
      );
    const readies = u.seen.flatMap((s) => (s.frame.type === "match_ready" ? [s.frame] : []));
    const readyIds = [...new Set(readies.map((r) => r.matchId))];
    if (readyIds.length > 1) found.push(`${u.userId}: told match_ready for ${readyIds.length} matches`);
    if (readies[0]) readyWith.set(u.userId, readies[0]);
    if (u.outcome === undefined) {
      const last = u.seen.at(-1)?.frame.type ?? "nothing";
      const close = u.closes.at(-1)?.code ?? "none";
      found.push(
        `${u.userId}: no outcome delivered (last frame ${last}, last close ${close}, ${u.connects} connects)`,
      );
    }
    const confirmed = (records.get(u.userId) ?? []).filter((m) => m.status === "confirmed");
    const confirmedIds = confirmed.map((m) => m.id);
    if (new Set(confirmedIds).size > 1)
      found.push(
        `${u.userId}: in ${new Set(confirmedIds).size} confirmed matches (${confirmedIds.join(", ")})`,
      );
    for (const id of new Set(confirmedIds)) {
      const times = confirmedIds.filter((c) => c === id).length;
      if (times > 1) found.push(`${u.userId}: confirmed match ${id} is in the records ${times} times`);
      if (!readyIds.includes(id))
        found.push(`${u.userId}: confirmed match ${id} in the records, never told match_ready`);
    }
    for (const id of readyIds) {
      if (!confirmedIds.includes(id))
        found.push(`${u.userId}: told match_ready ${id}, not in the records as confirmed`);
    }
    const status = live.get(u.userId);
    if (status !== 404) found.push(`${u.userId}: GET /me/request answers ${status} at the end (still live)`);
  }
  for (const [userId, ready] of readyWith) {
    const partner = readyWith.get(ready.partnerId);
    if (partner?.matchId !== ready.matchId)
      found.push(`${userId}: match_ready ${ready.matchId} with ${ready.partnerId}, who was not told it`);
  }
  return found;
}

describe("a crash of every process is an eviction", () => {
  // Milliseconds after the burst starts: early in it, at its height, just after it.
  it.each([400, 1_000, 1_800])(
    "SIGKILL %i ms into a burst of flexible requests, restart on the same state",
    async (killAfterMs) => {
      const tag = `${process.pid}-${++run}`;
      const seed = Date.now() % 1_000_000;
      const arrivals = burst(seed, tag);
      const users = arrivals.map((a) => a.user);
      const timers = arrivals.map((a) => setTimeout(() => a.user.start(), a.startAt));
      try {
        await new Promise((r) => setTimeout(r, killAfterMs));
        const killed = crashServer(server);
        const crashedAt = Date.now();
        // Frames the service sent before it died may still wait to be read.
        await new Promise((r) => setTimeout(r, 200));
        const told = users.filter((u) => u.seen.length > 0).length;
        await awaitGone(killed);
        server = await startServer(SECRET, SETTINGS, {
          port: Number(server.base.split(":")[1]),
          dataDir: server.dataDir,
        });
        const upAfterMs = Date.now() - crashedAt;
        // Everyone back (heard on their newest connection) and nothing new for a while: whoever
        // still waits leaves, and must hear `cancelled`.
        const settled = () => {
          const back = users.every((u) => u.done || u.seen.some((s) => s.connection === u.connects));
          const lastHeard = Math.max(0, ...users.flatMap((u) => u.seen.map((s) => s.at)));
          return back && Date.now() - lastHeard >= QUIET_MS ? true : undefined;
        };
        await waitFor("the users back and paired", async () => settled(), {
          timeoutMs: SETTLE_MS,
          intervalMs: 250,
        }).catch(() => undefined);
        for (const u of users) if (!u.done) u.leave();
        await waitFor("every session's end", async () => (users.every((u) => u.done) ? true : undefined), {
          timeoutMs: 10_000,
          intervalMs: 250,
        }).catch(() => undefined);
        for (const u of users) u.stop();

        // The records arrive through the buckets' outboxes: wait until each match_ready is there.
        const records = new Map<string, MatchRecord[]>();
        await waitFor(
          "the confirmed matches in the records",
          async () => {
            for (const u of users) records.set(u.userId, await historyOf(u.userId));
            const readyMissing = users.some((u) =>
              u.seen.some(
                (s) =>
                  s.frame.type === "match_ready" &&
                  !records.get(u.userId)!.some((m) => m.id === (s.frame as { matchId: string }).matchId),
              ),
            );
            return readyMissing ? undefined : true;
          },
          { timeoutMs: 10_000, intervalMs: 1_000 },
        ).catch(() => undefined);
        const live = new Map<string, number>();
        for (const u of users) live.set(u.userId, (await api(u.userId, "/me/request")).status);

        const fates = new Map<string, string | null>();
        for (const u of users) for (const id of requestIdsOf(u)) fates.set(id, await fateOf(u.userId, id));

        const broken = violations(users, records, live, fates);
        const summary =
          `seed ${seed}, crash ${killAfterMs} ms into the burst, ${told} of ${users.length} users ` +
          `had heard from the service by then; up again ${upAfterMs} ms after the crash`;
        expect(
          broken,
          `${summary}\n${broken.join("\n")}\nwhat each user saw:\n${transcript(users, crashedAt)}`,
        ).toEqual([]);
      } finally {
        for (const t of timers) clearTimeout(t);
        for (const u of users) u.stop();
      }
    },
    // Restart (wrangler on two shared cores), the sessions' end, the records.
    READY_TIMEOUT_MS + SETTLE_MS + 20_000,
  );
});

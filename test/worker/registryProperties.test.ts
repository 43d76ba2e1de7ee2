import { evictDurableObject, runDurableObjectAlarm } from "cloudflare:test";
import fc from "fast-check";
import { afterEach, expect, it, vi } from "vitest";
import { api } from "./httpClient.ts";
import { putClaimBack, shardFor, socketAs } from "./registryClient.ts";
import { bucketStub, type TestSocket } from "./socketClient.ts";

/**
 * One live request per user across buckets, against the real router, buckets and registry
 * shards: random joins by the same users into several buckets (one at a time and two tabs at
 * once), leaves, disconnects, time passing, evictions of buckets and of shards, and claims left
 * behind as if their release had been lost. The model is what the buckets themselves hold: after
 * every step no user has a live request in two buckets, a 4409 refusal only ever names a user who
 * is live elsewhere, and at the end, with everything over, nobody is locked out.
 */

const USERS = ["u0", "u1", "u2"] as const;
const ROOMS = ["easy", "medium", "hard"] as const;
type User = (typeof USERS)[number];
type Room = (typeof ROOMS)[number];

type Command =
  | { kind: "open" | "close" | "leave"; user: User; room: Room }
  | { kind: "twoTabs"; user: User; rooms: [Room, Room] }
  | { kind: "post" | "staleClaim"; user: User; room: Room }
  | { kind: "evictBucket"; room: Room }
  | { kind: "evictShard"; user: User }
  | { kind: "advance"; ms: number };

const user = fc.constantFrom(...USERS);
const room = fc.constantFrom(...ROOMS);
const command: fc.Arbitrary<Command> = fc.oneof(
  { weight: 4, arbitrary: fc.record({ kind: fc.constant("open" as const), user, room }) },
  {
    weight: 2,
    arbitrary: fc.record({ kind: fc.constantFrom("close" as const, "leave" as const), user, room }),
  },
  {
    weight: 2,
    arbitrary: fc.record({
      kind: fc.constant("twoTabs" as const),
      user,
      rooms: fc.tuple(room, room).filter(([a, b]) => a !== b),
    }),
  },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant("post" as const), user, room }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant("staleClaim" as const), user, room }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant("evictBucket" as const), room }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant("evictShard" as const), user }) },
  {
    weight: 1,
    arbitrary: fc.record({ kind: fc.constant("advance" as const), ms: fc.constantFrom(11_000, 61_000) }),
  },
);

afterEach(() => {
  vi.useRealTimers();
});

it("never two live requests per user, nobody locked out, across buckets, evictions and lost releases", async () => {
  const settle = () => new Promise((r) => setTimeout(r, 20));
  let runs = 0;

  await fc.assert(
    fc.asyncProperty(fc.array(command, { minLength: 4, maxLength: 14 }), async (commands) => {
      const run = `${++runs}-${crypto.randomUUID().slice(0, 8)}`;
      const topic = `reg-${run}`;
      const roomName = (r: Room) => `${r}.${topic}`;
      const userId = (u: User) => `${u}-${run}`;
      const sockets = new Map<string, TestSocket>();
      const key = (u: User, r: Room) => `${u}@${r}`;
      const problems: string[] = [];

      /** Where each user's live requests are, as the buckets themselves say. */
      const liveRooms = async (u: User) => {
        const rooms: Room[] = [];
        for (const r of ROOMS) if (await bucketStub(roomName(r)).liveRequest(userId(u))) rooms.push(r);
        return rooms;
      };
      /** The outcome of a join on a socket: queued/matched, or refused with 4409. */
      const outcome = async (s: TestSocket) => {
        await vi.waitUntil(() => s.frames.length > 0 || s.closeCode !== null, { timeout: 3000 });
        const first = s.frames[0];
        if (first?.type === "error") return `refused:${first.code}:${await s.closed()}`;
        return first?.type ?? `closed:${s.closeCode}`;
      };
      const open = async (u: User, r: Room) => {
        sockets.get(key(u, r))?.close();
        const s = await socketAs(roomName(r), userId(u));
        sockets.set(key(u, r), s);
        return s;
      };
      const checkRefusal = async (u: User, r: Room, seen: string) => {
        if (!seen.startsWith("refused")) return;
        if (seen !== "refused:already_queued:4409") problems.push(`${u} in ${r}: ${seen}`);
        const elsewhere = (await liveRooms(u)).filter((x) => x !== r);
        if (elsewhere.length === 0)
          problems.push(`${u} refused in ${r} though live nowhere else (locked out)`);
      };

      try {
        for (const c of commands) {
          if (c.kind === "open") {
            await checkRefusal(c.user, c.room, await outcome(await open(c.user, c.room)));
          } else if (c.kind === "twoTabs") {
            const [a, b] = await Promise.all(c.rooms.map((r) => open(c.user, r)));
            const seen = [await outcome(a!), await outcome(b!)];
            for (const [i, r] of c.rooms.entries()) await checkRefusal(c.user, r, seen[i]!);
          } else if (c.kind === "close" || c.kind === "leave") {
            const s = sockets.get(key(c.user, c.room));
            if (s && s.closeCode === null) {
              if (c.kind === "leave") s.send({ type: "leave" });
              else s.close();
              await s.closed(2000).catch(() => undefined);
            }
          } else if (c.kind === "post") {
            const res = await api(userId(c.user), "POST", "/request", { difficulty: c.room, topic });
            if (res.status === 409) await checkRefusal(c.user, c.room, "refused:already_queued:4409");
            else if (res.status !== 200 && res.status !== 201) problems.push(`POST answered ${res.status}`);
          } else if (c.kind === "staleClaim") {
            // A claim for a request that is not live there, as a lost release leaves behind.
            const held = await liveRooms(c.user);
            if (held.length === 0) await putClaimBack(userId(c.user), roomName(c.room), `req_lost-${run}`);
          } else if (c.kind === "evictBucket") {
            await evictDurableObject(bucketStub(roomName(c.room))).catch(() => undefined);
          } else if (c.kind === "evictShard") {
            await evictDurableObject(shardFor(userId(c.user))).catch(() => undefined);
          } else if (c.kind === "advance") {
            vi.useFakeTimers({ toFake: ["Date"] });
            vi.setSystemTime(Date.now() + c.ms);
            for (const r of ROOMS) await runDurableObjectAlarm(bucketStub(roomName(r)));
          }
          await settle();
          for (const u of USERS) {
            const rooms = await liveRooms(u);
            if (rooms.length > 1)
              problems.push(`${u} live in ${rooms.join(" and ")} after ${JSON.stringify(c)}`);
          }
          if (problems.length > 0) break;
        }
        // Everything ends (sockets gone, graces and queue times over); then nobody is locked out.
        for (const s of sockets.values()) s.close();
        await settle();
        vi.useFakeTimers({ toFake: ["Date"] });
        vi.setSystemTime(Date.now() + 3_700_000);
        for (const r of ROOMS) await runDurableObjectAlarm(bucketStub(roomName(r)));
        for (const u of USERS) {
          const rooms = await liveRooms(u);
          if (rooms.length > 0) problems.push(`${u} still live in ${rooms.join(", ")} an hour after the end`);
        }
        for (const u of USERS) {
          const res = await api(userId(u), "POST", "/request", {
            difficulty: "easy",
            topic: `${topic}-after`,
          });
          if (res.status !== 201)
            problems.push(`${u} locked out at the end: ${res.status} ${JSON.stringify(res.json)}`);
        }
      } finally {
        for (const s of sockets.values()) s.close();
        vi.useRealTimers();
      }
      expect(problems, JSON.stringify(commands)).toEqual([]);
    }),
    { numRuns: 14, seed: 20261201, endOnFailure: true },
  );
}, 180_000);

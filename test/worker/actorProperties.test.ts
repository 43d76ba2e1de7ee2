import { abortAllDurableObjects, evictDurableObject, runDurableObjectAlarm } from "cloudflare:test";
import fc from "fast-check";
import { afterEach, expect, it, vi } from "vitest";
import type { ServerFrame } from "../../src/protocol/frames.ts";
import { queueFigures } from "../../src/protocol/http.ts";
import { api } from "./httpClient.ts";
import { bucketStub, openSocket, type TestSocket, uniqueRoom, userIn } from "./socketClient.ts";

/**
 * Random sequences of joins, leaves, confirms, declines, disconnects, reconnects, timeouts,
 * evictions and crashes against the real bucket actor (real sockets, real SQLite, real alarms),
 * checking what users could observe: among it, that a reconnect inside the grace never gets a
 * new request while the last one may still be live or owes its outcome, and that an outcome
 * missed while away is told. The pure core's model test (src/matching/model.test.ts) checks the
 * rules in depth; this one checks that the actor around it keeps them through the runtime.
 */

const USERS = ["u0", "u1", "u2"] as const;
type User = (typeof USERS)[number];

type Command =
  | { kind: "open" | "close" | "leave" | "confirm" | "decline" | "status"; user: User }
  | { kind: "evict" }
  /** Every object dies at once, losing whatever it had not committed (a crash). */
  | { kind: "crash" }
  | { kind: "advance"; ms: number };

const command: fc.Arbitrary<Command> = fc.oneof(
  fc.record({
    kind: fc.constantFrom("open", "open", "close", "leave", "confirm", "confirm", "decline", "status"),
    user: fc.constantFrom(...USERS),
  }),
  fc.constant({ kind: "evict" as const }),
  fc.constant({ kind: "crash" as const }),
  fc.record({
    kind: fc.constant("advance" as const),
    ms: fc.constantFrom(3_000, 9_000, 11_000, 21_000, 61_000),
  }),
);

type Seen = {
  socket: TestSocket | null;
  /** The match this user was last told about and has not heard the end of. */
  openMatch: string | null;
  /** The request this user was last told about and has not heard the end of. */
  requestId: string | null;
  /** When their socket last closed (the reconnect grace counts from then). */
  closedAt: number;
  /** What they knew before coming back past the grace: its end may still be told once. */
  before: { openMatch: string | null; requestId: string | null };
};

/** wrangler.toml's RECONNECT_GRACE_SECONDS. */
const GRACE_MS = 10_000;

afterEach(() => {
  vi.useRealTimers();
});

it("keeps its invariants under random sequences, evictions included", async () => {
  let clockSkew = 0;
  const settle = () => new Promise((r) => setTimeout(r, 25));

  await fc.assert(
    fc.asyncProperty(fc.array(command, { minLength: 4, maxLength: 18 }), async (commands) => {
      const room = uniqueRoom();
      const seen = new Map<User, Seen>(
        USERS.map((u) => [
          u,
          {
            socket: null,
            openMatch: null,
            requestId: null,
            closedAt: 0,
            before: { openMatch: null, requestId: null },
          },
        ]),
      );
      const problems: string[] = [];

      /** Read every frame a user's socket has received so far and check it. */
      const drain = (user: User) => {
        const s = seen.get(user)!;
        if (!s.socket) return;
        for (let f = s.socket.frames.shift(); f; f = s.socket.frames.shift()) observe(user, s, f);
        if (s.socket.closeCode !== null) {
          s.socket = null;
          s.closedAt = Date.now();
        }
      };
      const observe = (user: User, s: Seen, f: ServerFrame) => {
        // An outcome owed from before the grace ran out is told once, then forgotten.
        const late =
          (f.type === "match_ready" || f.type === "match_cancelled") && f.matchId === s.before.openMatch
            ? true
            : (f.type === "timeout" || f.type === "cancelled") && f.requestId === s.before.requestId;
        if (late) {
          s.before = { openMatch: null, requestId: null };
          return;
        }
        if (f.type === "queued") {
          // One request id per join: a reconnect never makes a new request while the user's
          // last one may still be live or owes them its outcome.
          if (s.requestId !== null && f.requestId !== s.requestId) {
            problems.push(`${user} got a new request ${f.requestId} while ${s.requestId} was unresolved`);
          }
          s.requestId = f.requestId;
        }
        if (f.type === "match_found") {
          if (f.partnerId === userIn(room, user)) problems.push(`${user} matched with themselves`);
          if (s.openMatch !== null && s.openMatch !== f.matchId) {
            problems.push(`${user} told of ${f.matchId} while still in ${s.openMatch}`);
          }
          s.openMatch = f.matchId;
        }
        if (f.type === "match_ready" || f.type === "match_cancelled") {
          if (s.openMatch !== f.matchId)
            problems.push(`${user} heard the end of ${f.matchId}, not its match`);
          s.openMatch = null;
          // These end the user's own request; a partner's decline or timeout requeues it.
          if (f.type === "match_ready" || f.reason === "declined" || f.reason === "confirm_timeout") {
            s.requestId = null;
          }
        }
        if (f.type === "error" && f.code === "no_live_request" && s.requestId !== null) {
          problems.push(`${user} was forgotten: ${f.message} (had ${s.requestId})`);
        }
        if (f.type === "timeout" || f.type === "cancelled") {
          if (f.requestId !== s.requestId) problems.push(`${user}: ${f.type} for a request not theirs`);
          s.openMatch = null;
          s.requestId = null;
        }
      };

      try {
        for (const c of commands) {
          if (c.kind === "evict") {
            await evictDurableObject(bucketStub(room)).catch(() => undefined);
          } else if (c.kind === "crash") {
            await abortAllDurableObjects();
          } else if (c.kind === "advance") {
            clockSkew += c.ms;
            vi.useFakeTimers({ toFake: ["Date"] });
            vi.setSystemTime(Date.now() + c.ms);
            await runDurableObjectAlarm(bucketStub(room));
          } else {
            const s = seen.get(c.user)!;
            drain(c.user);
            if (c.kind === "open") {
              if (!s.socket) {
                if (Date.now() - s.closedAt >= GRACE_MS) {
                  // Away past the grace: their request may be gone and they may start afresh.
                  s.before = { openMatch: s.openMatch, requestId: s.requestId };
                  s.openMatch = null;
                  s.requestId = null;
                }
                s.socket = await openSocket(room, c.user);
              }
            } else if (s.socket) {
              if (c.kind === "close") {
                s.socket.close();
                await s.socket.closed(2000).catch(() => undefined);
                s.socket = null;
                s.closedAt = Date.now();
              } else if (c.kind === "confirm" || c.kind === "decline") {
                if (s.openMatch) s.socket.send({ type: c.kind, matchId: s.openMatch });
              } else {
                s.socket.send({ type: c.kind });
              }
            }
          }
          await settle();
          for (const u of USERS) drain(u);
          // At rest, pairing is instant: never two requests waiting in one bucket.
          const figures = queueFigures.parse(
            (await api(userIn(room, "observer"), "GET", `/queues/${room.replace(".", "/")}`)).json,
          );
          if (figures.waiting > 1) problems.push(`${figures.waiting} waiting after ${JSON.stringify(c)}`);
          if (problems.length > 0) break;
        }
        // Nothing was lost across evictions: each connected user's `status` still names the
        // request and match they last heard of.
        for (const u of USERS) {
          const s = seen.get(u)!;
          if (!s.socket) continue;
          s.socket.send({ type: "status" });
          await settle();
          const answer = s.socket.frames.at(-1);
          drain(u);
          if (s.openMatch && answer?.type !== "match_found" && answer?.type !== "partner_confirmed") {
            problems.push(`${u} was in ${s.openMatch} but status said ${JSON.stringify(answer)}`);
          }
          if (
            !s.openMatch &&
            s.requestId &&
            (answer?.type !== "queued" || answer.requestId !== s.requestId)
          ) {
            problems.push(`${u} waited with ${s.requestId} but status said ${JSON.stringify(answer)}`);
          }
        }
      } finally {
        for (const s of seen.values()) s.socket?.close();
        vi.useRealTimers();
      }
      expect(problems, JSON.stringify(commands)).toEqual([]);
    }),
    {
      numRuns: 12,
      seed: 20261122,
      endOnFailure: true,
      // The drops that used to double-book: a user confirms and drops, the partner confirms
      // (or declines, or the queue times out), and the user comes back inside the grace.
      examples: [
        [
          [
            { kind: "open", user: "u0" },
            { kind: "open", user: "u1" },
            { kind: "confirm", user: "u0" },
            { kind: "close", user: "u0" },
            { kind: "confirm", user: "u1" },
            { kind: "open", user: "u0" },
            { kind: "open", user: "u0" },
          ],
        ],
        [
          [
            { kind: "open", user: "u0" },
            { kind: "open", user: "u1" },
            { kind: "close", user: "u0" },
            { kind: "decline", user: "u1" },
            { kind: "evict" },
            { kind: "open", user: "u0" },
          ],
        ],
        [
          [
            { kind: "open", user: "u2" },
            { kind: "advance", ms: 21_000 },
            { kind: "advance", ms: 21_000 },
            { kind: "close", user: "u2" },
            { kind: "advance", ms: 21_000 },
            { kind: "open", user: "u2" },
          ],
        ],
      ],
    },
  );
  expect(clockSkew).toBeGreaterThan(0);
}, 120_000);

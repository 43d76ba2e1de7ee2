import { describe, expect, inject, it } from "vitest";
import { matchedPair } from "../worker/socketClient.ts";
import { COLLAB_POOL_KEYS, collabPoolUrls } from "./collabPoolKeys.ts";

/**
 * This project's COLLAB_SERVICE_URL lists two URLs: the `by-topic` stand-in under the prefixes
 * `/k/collab-1` and `/k/collab-2`, whose calls are counted apart (vitest.config.ts). Every test
 * uses a fresh bucket, so a fresh actor with a fresh pool (src/orchestration/collabPool.ts).
 */

type Calls = { requests: Array<{ endpoint: string; idempotencyKey: string | null }> };

const poolUrls = collabPoolUrls(inject("standInServices")["by-topic"]);

/** Which pool keys were asked to create the session of `matchId`. */
async function askedFor(matchId: string): Promise<string[]> {
  const asked: string[] = [];
  for (const [i, url] of poolUrls.entries()) {
    const calls = (await (await fetch(`${url}/calls`)).json()) as Calls;
    const n = calls.requests.filter((r) => r.idempotencyKey === `${matchId}:collab`).length;
    for (let k = 0; k < n; k++) asked.push(COLLAB_POOL_KEYS[i]!);
  }
  return asked;
}

/** Match two new users in `room`, both confirm, and wait for match_ready. */
async function confirmedSession(room: string, n: number) {
  const { a, b, matchId } = await matchedPair(room, `u${n}a`, `u${n}b`);
  a.send({ type: "confirm", matchId });
  await b.next("partner_confirmed");
  b.send({ type: "confirm", matchId });
  const ready = await a.next("match_ready", 8000);
  await b.next("match_ready", 8000);
  return { matchId, sessionId: ready.collaborationSessionId };
}

describe("collaboration pool (COLLAB_SERVICE_URL lists two stand-in URLs)", () => {
  it("spreads sessions round-robin over the two healthy URLs", async () => {
    const room = `easy.ok-${crypto.randomUUID().slice(0, 8)}`;
    const landed: string[][] = [];
    for (let n = 1; n <= 4; n++) {
      const { matchId, sessionId } = await confirmedSession(room, n);
      expect(sessionId).toMatch(/^room-/);
      landed.push(await askedFor(matchId));
    }
    // One call per session, alternating (the first URL is the pool's random start).
    expect(landed.every((keys) => keys.length === 1)).toBe(true);
    const order = landed.map((keys) => keys[0]);
    expect(order[1]).not.toBe(order[0]);
    expect(order).toEqual([order[0], order[1], order[0], order[1]]);
  });

  it("skips a failing URL: the session is created on the next one, later sessions skip it", async () => {
    // The stand-in answers 503 under collab-1 for this topic, and normally under collab-2.
    const room = `easy.down-collab-1-${crypto.randomUUID().slice(0, 8)}`;
    const landed: string[][] = [];
    for (let n = 1; n <= 4; n++) {
      const { matchId, sessionId } = await confirmedSession(room, n);
      expect(sessionId).toMatch(/^room-/);
      landed.push(await askedFor(matchId));
    }
    // Every session was created by collab-2. collab-1 was asked once, when its turn came
    // (the first or second session, by the pool's random start), and that session then went on
    // to collab-2 at once; after that collab-1 is skipped, where plain rotation would ask it again.
    expect(landed.every((keys) => keys.includes("collab-2"))).toBe(true);
    const skipped = landed.filter((keys) => keys.includes("collab-1"));
    expect(skipped).toEqual([["collab-1", "collab-2"]]);
    expect(landed.findIndex((keys) => keys.includes("collab-1"))).toBeLessThan(2);
  });
});

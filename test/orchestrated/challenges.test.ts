import { afterEach, describe, expect, it, vi } from "vitest";
import { acceptChallengeAnswer, challengeView } from "../../src/protocol/challenges.ts";
import { api, newUser } from "../worker/httpClient.ts";
import { openChannel } from "../worker/userChannel.ts";

afterEach(() => {
  vi.useRealTimers();
});

/** A topic that tells the `by-topic` stand-in services how to behave. */
const topicFor = (prefix: "ok" | "fail" | "slow") => `${prefix}-${crypto.randomUUID().slice(0, 8)}`;

async function pendingPair(topic: string) {
  const [alice, bob] = [newUser("alice"), newUser("bob")];
  const res = await api(alice, "POST", "/challenges", { opponentId: bob, difficulty: "easy", topic });
  expect(res.status).toBe(201);
  return { alice, bob, c: challengeView.parse(res.json) };
}

describe("an accepted challenge's session setup (the same as a queue match's)", () => {
  it("answers the accept with the question and collaboration ids, and tells the challenger's channel", async () => {
    const topic = topicFor("ok");
    const { alice, bob, c } = await pendingPair(topic);
    const tab = await openChannel(alice);
    const res = await api(bob, "POST", `/challenges/${c.id}/accept`);
    expect(res.status).toBe(200);
    const answer = acceptChallengeAnswer.parse(res.json);
    expect(answer).toMatchObject({
      partner_id: alice,
      question_id: `q-easy-${topic}`,
      collaboration_session_id: `room-${alice}+${bob}-q-easy-${topic}`,
    });
    const frame = await tab.nextOf("challenge_accepted");
    expect(frame.match).toMatchObject({
      matchId: answer.match_id,
      questionId: answer.question_id,
      collaborationSessionId: answer.collaboration_session_id,
    });
    tab.close();
  });

  it("while the session is set up, neither user can join a bucket (409); afterwards both can", async () => {
    const { alice, bob, c } = await pendingPair(topicFor("slow"));
    const accepting = api(bob, "POST", `/challenges/${c.id}/accept`);
    // The slow stand-in takes a second; by now both claims are held for the challenge's match.
    await new Promise((r) => setTimeout(r, 400));
    for (const who of [alice, bob]) {
      const refused = await api(who, "POST", "/request", { difficulty: "easy", topic: topicFor("ok") });
      expect(refused.status).toBe(409);
      expect(refused.json).toMatchObject({ error: { code: "already_queued" } });
    }
    expect((await accepting).status).toBe(200);
    for (const who of [alice, bob]) {
      expect((await api(who, "POST", "/request", { difficulty: "easy", topic: topicFor("ok") })).status).toBe(
        201,
      );
    }
  });

  it("setup_failed: the accept answers 503, the challenge waits for an answer again, both users are free", async () => {
    const { alice, bob, c } = await pendingPair(topicFor("fail"));
    const res = await api(bob, "POST", `/challenges/${c.id}/accept`);
    expect(res.status).toBe(503);
    expect(res.json).toMatchObject({ error: { code: "setup_failed" } });
    const after = challengeView.parse((await api(alice, "GET", `/challenges/${c.id}`)).json);
    expect(after).toMatchObject({ status: "PENDING", matchId: null });
    expect((await api(alice, "POST", "/request", { difficulty: "easy", topic: topicFor("ok") })).status).toBe(
      201,
    );
  });
});

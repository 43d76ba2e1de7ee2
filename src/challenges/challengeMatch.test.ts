import assert from "node:assert/strict";
import { test } from "node:test";
import { outboxMatchSchema, outboxRequestSchema } from "../records/recordSchemas.ts";
import { acceptedMatch, matchFor, recordsOf, settled } from "./challengeMatch.ts";
import { type Challenge, newChallenge } from "./challengeRules.ts";

const T0 = Date.UTC(2030, 0, 1);

function challenge(role: Challenge["role"]): Challenge {
  const made = newChallenge(
    { challengerId: "alice", opponentId: "bob", bucket: { difficulty: "hard", topic: "graphs" }, role },
    T0,
    120_000,
    "chl_00000001",
  );
  assert.ok(made.ok);
  return made.challenge;
}

const ids = { matchId: "mat_00000001", challengerRequest: "req_0000000a", opponentRequest: "req_0000000b" };

test("an accepted challenge's match: both confirmed, challenger first, the parts the challenger asked for", () => {
  const { match } = acceptedMatch(challenge("interviewee"), ids, T0 + 5);
  assert.deepEqual(match.users, ["alice", "bob"]);
  assert.deepEqual(match.confirmed, ["alice", "bob"]);
  assert.deepEqual(match.parts, ["interviewee", "interviewer"]);
  assert.equal(match.settingUp, true);
  assert.deepEqual(acceptedMatch(challenge("interviewer"), ids, T0).match.parts, [
    "interviewer",
    "interviewee",
  ]);
});

test("settled: confirmed with the session ids, or cancelled setup_failed", () => {
  const setup = acceptedMatch(challenge("either"), ids, T0);
  const ok = settled(setup, { ok: true, ids: { questionId: "q1", collaborationSessionId: "s1" } }, T0 + 9);
  assert.equal(ok.status, "confirmed");
  assert.equal(ok.questionId, "q1");
  assert.equal(ok.endedAt, T0 + 9);
  const failed = settled(setup, { ok: false }, T0 + 9);
  assert.equal(failed.status, "cancelled");
  assert.equal(failed.reason, "setup_failed");
});

test("its records are what the outbox delivery accepts, each naming the challenge's bucket", () => {
  const setup = acceptedMatch(challenge("either"), ids, T0);
  const match = settled(setup, { ok: true, ids: { questionId: null, collaborationSessionId: null } }, T0 + 1);
  const [m, ...requests] = recordsOf(setup, match);
  assert.equal(m?.kind, "match");
  assert.deepEqual(outboxMatchSchema.parse(m?.body).difficulty, "hard");
  assert.equal(requests.length, 2);
  for (const r of requests) {
    const parsed = outboxRequestSchema.parse(r.body);
    assert.equal(parsed.status, "CONFIRMED");
    assert.equal(parsed.topic, "graphs");
    assert.equal(parsed.matchId, match.id);
  }
});

test("each side sees the other as partner and its own part", () => {
  const setup = acceptedMatch(challenge("interviewer"), ids, T0);
  const match = settled(setup, { ok: true, ids: { questionId: "q", collaborationSessionId: "s" } }, T0);
  assert.deepEqual(matchFor(setup, match, "alice"), {
    matchId: ids.matchId,
    partnerId: "bob",
    difficulty: "hard",
    topic: "graphs",
    role: "interviewer",
    questionId: "q",
    collaborationSessionId: "s",
  });
  assert.equal(matchFor(setup, match, "bob").role, "interviewee");
});

import { SELF } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import { requestView } from "../../src/protocol/http.ts";
import { API, api, newTopic, newUser } from "./httpClient.ts";
import { tokenFor } from "./socketClient.ts";

type Case = {
  name: string;
  method: string;
  path: string | ((ids: Ids) => string);
  body?: unknown | ((ids: Ids) => unknown);
  headers?: Record<string, string>;
  status: number;
  code: string;
};
type Ids = { requestId: string; matchId: string; otherRequestId: string; otherMatchId: string };

const big = "x".repeat(17 * 1024);

/** Every malformed call gets its documented 4xx and never a 500 (see docs/protocol.md, "Errors"). */
const cases: Case[] = [
  {
    name: "no body",
    method: "POST",
    path: "/request",
    headers: { "content-type": "application/json" },
    status: 400,
    code: "invalid_json",
  },
  {
    name: "empty JSON object",
    method: "POST",
    path: "/request",
    body: {},
    status: 400,
    code: "validation_failed",
  },
  { name: "JSON array", method: "POST", path: "/request", body: [], status: 400, code: "validation_failed" },
  {
    name: "JSON null",
    method: "POST",
    path: "/request",
    body: "null",
    status: 400,
    code: "validation_failed",
  },
  {
    name: "broken JSON",
    method: "POST",
    path: "/request",
    body: '{"difficulty":',
    status: 400,
    code: "invalid_json",
  },
  {
    name: "unknown difficulty",
    method: "POST",
    path: "/request",
    body: { difficulty: "extreme", topic: "arrays" },
    status: 400,
    code: "validation_failed",
  },
  {
    name: "difficulty as a number",
    method: "POST",
    path: "/request",
    body: { difficulty: 1, topic: "arrays" },
    status: 400,
    code: "validation_failed",
  },
  {
    name: "missing topic",
    method: "POST",
    path: "/request",
    body: { difficulty: "easy" },
    status: 400,
    code: "validation_failed",
  },
  {
    name: "empty topic",
    method: "POST",
    path: "/request",
    body: { difficulty: "easy", topic: "  " },
    status: 400,
    code: "validation_failed",
  },
  {
    name: "topic of 49 characters",
    method: "POST",
    path: "/request",
    body: { difficulty: "easy", topic: "a".repeat(49) },
    status: 400,
    code: "validation_failed",
  },
  {
    name: "topic with a dot",
    method: "POST",
    path: "/request",
    body: { difficulty: "easy", topic: "a.b" },
    status: 400,
    code: "validation_failed",
  },
  {
    name: "topic with a slash",
    method: "POST",
    path: "/request",
    body: { difficulty: "easy", topic: "../admin" },
    status: 400,
    code: "validation_failed",
  },
  {
    name: "topic with emoji",
    method: "POST",
    path: "/request",
    body: { difficulty: "easy", topic: "trees🌲" },
    status: 400,
    code: "validation_failed",
  },
  {
    name: "topic as an object",
    method: "POST",
    path: "/request",
    body: { difficulty: "easy", topic: { $ne: 1 } },
    status: 400,
    code: "validation_failed",
  },
  {
    name: "text/plain body",
    method: "POST",
    path: "/request",
    body: '{"difficulty":"easy","topic":"arrays"}',
    headers: { "content-type": "text/plain" },
    status: 415,
    code: "unsupported_media_type",
  },
  {
    name: "form-encoded body",
    method: "POST",
    path: "/request",
    body: "difficulty=easy&topic=arrays",
    headers: { "content-type": "application/x-www-form-urlencoded" },
    status: 415,
    code: "unsupported_media_type",
  },
  {
    name: "body over 16 KB",
    method: "POST",
    path: "/request",
    body: { difficulty: "easy", topic: "arrays", pad: big },
    status: 413,
    code: "payload_too_large",
  },
  {
    name: "confirm with no match_id",
    method: "POST",
    path: "/confirm",
    body: { confirmed: true },
    status: 400,
    code: "validation_failed",
  },
  {
    name: "confirm with a match_id that is no id (ids are opaque: unknown)",
    method: "POST",
    path: "/confirm",
    body: { match_id: "'; drop table matches; --", confirmed: true },
    status: 404,
    code: "not_found",
  },
  {
    name: "confirm a bare UUID (PeerPrep's id form)",
    method: "POST",
    path: "/confirm",
    body: { match_id: "6f1c2f0e-5b7a-4c1e-9d1e-0a4b7c2d9e11", confirmed: true },
    status: 404,
    code: "not_found",
  },
  {
    name: "confirm with an empty match_id",
    method: "POST",
    path: "/confirm",
    body: { match_id: "", confirmed: true },
    status: 400,
    code: "validation_failed",
  },
  {
    name: "confirm with confirmed as a string",
    method: "POST",
    path: "/confirm",
    body: (ids: Ids) => ({ match_id: ids.matchId, confirmed: "yes" }),
    status: 400,
    code: "validation_failed",
  },
  {
    name: "confirm an unknown match",
    method: "POST",
    path: "/confirm",
    body: { match_id: "mat_00000000-0000-0000-0000-000000000000", confirmed: true },
    status: 404,
    code: "not_found",
  },
  {
    name: "confirm someone else's match",
    method: "POST",
    path: "/confirm",
    body: (ids: Ids) => ({ match_id: ids.otherMatchId, confirmed: true }),
    status: 404,
    code: "not_found",
  },
  {
    name: "confirm body over 16 KB",
    method: "POST",
    path: "/confirm",
    body: (ids: Ids) => ({ match_id: ids.matchId, confirmed: true, pad: big }),
    status: 413,
    code: "payload_too_large",
  },
  {
    name: "GET a malformed request id (nobody's: 404)",
    method: "GET",
    path: "/request/not-an-id",
    status: 404,
    code: "not_found",
  },
  {
    name: "GET an unknown request id",
    method: "GET",
    path: "/request/req_00000000-0000-0000-0000-000000000000",
    status: 404,
    code: "not_found",
  },
  {
    name: "GET someone else's request",
    method: "GET",
    path: (ids) => `/request/${ids.otherRequestId}`,
    status: 404,
    code: "not_found",
  },
  {
    name: "DELETE someone else's request",
    method: "DELETE",
    path: (ids) => `/request/${ids.otherRequestId}`,
    status: 404,
    code: "not_found",
  },
  {
    name: "DELETE a malformed id (nobody's: 404)",
    method: "DELETE",
    path: "/request/%00%ff",
    status: 404,
    code: "not_found",
  },
  {
    name: "queue figures for a bad difficulty",
    method: "GET",
    path: "/queues/impossible/arrays",
    status: 400,
    code: "invalid_parameter",
  },
  {
    name: "queue figures for a bad topic",
    method: "GET",
    path: "/queues/easy/a.b",
    status: 400,
    code: "invalid_parameter",
  },
  {
    name: "PUT on /request",
    method: "PUT",
    path: "/request",
    body: { difficulty: "easy", topic: "arrays" },
    status: 404,
    code: "not_found",
  },
  {
    name: "PATCH a request",
    method: "PATCH",
    path: (ids) => `/request/${ids.requestId}`,
    body: {},
    status: 404,
    code: "not_found",
  },
  { name: "an unknown endpoint", method: "GET", path: "/nowhere", status: 404, code: "not_found" },
  {
    name: "socket path without an upgrade",
    method: "GET",
    path: "https://matcher.test/parties/bucket/easy.arrays",
    status: 426,
    code: "upgrade_required",
  },
];

describe("malformed requests", () => {
  it(`answers each of ${cases.length} malformed calls with its 4xx and changes nothing`, async () => {
    expect(cases.length).toBeGreaterThanOrEqual(30);
    const topic = newTopic();
    const [me, partner, x, y] = [newUser("me"), newUser("partner"), newUser("x"), newUser("y")];
    const mine = requestView.parse((await api(me, "POST", "/request", { difficulty: "easy", topic })).json);
    const matched = requestView.parse(
      (await api(partner, "POST", "/request", { difficulty: "easy", topic })).json,
    );
    const other = newTopic();
    await api(x, "POST", "/request", { difficulty: "hard", topic: other });
    const theirs = requestView.parse(
      (await api(y, "POST", "/request", { difficulty: "hard", topic: other })).json,
    );
    const ids: Ids = {
      requestId: mine.id,
      matchId: matched.match!.id,
      otherRequestId: theirs.id,
      otherMatchId: theirs.match!.id,
    };
    const before = requestView.parse((await api(me, "GET", `/request/${mine.id}`)).json);

    const token = await tokenFor(me);
    const failures: string[] = [];
    for (const c of cases) {
      const path = typeof c.path === "function" ? c.path(ids) : c.path;
      const body = typeof c.body === "function" ? (c.body as (i: Ids) => unknown)(ids) : c.body;
      const res = await SELF.fetch(path.startsWith("https:") ? path : `${API}${path}`, {
        method: c.method,
        headers: { authorization: `Bearer ${token}`, "content-type": "application/json", ...c.headers },
        body: body === undefined ? undefined : typeof body === "string" ? body : JSON.stringify(body),
      });
      const answer = (await res.json().catch(() => null)) as {
        error?: { code?: string; message?: string };
      } | null;
      if (res.status !== c.status || answer?.error?.code !== c.code || !answer.error.message) {
        failures.push(`${c.name}: ${res.status} ${JSON.stringify(answer)}`);
      }
    }
    expect(failures).toEqual([]);

    // Nothing moved: my request and match, and the other pair's, are as they were.
    expect(requestView.parse((await api(me, "GET", `/request/${mine.id}`)).json)).toEqual(before);
    expect(requestView.parse((await api(y, "GET", `/request/${theirs.id}`)).json).match).toMatchObject({
      status: "proposed",
      youConfirmed: false,
      partnerConfirmed: false,
    });
  });
});

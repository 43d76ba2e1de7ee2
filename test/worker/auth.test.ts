import { env, listDurableObjectIds, SELF } from "cloudflare:test";
import { importJWK, SignJWT } from "jose";
import { describe, expect, inject, it } from "vitest";
import { app } from "../../src/http/app.ts";
import { TEST_JWT_SECRET } from "../testSecret.ts";
import { newTopic, newUser } from "./httpClient.ts";

const secret = new TextEncoder().encode(TEST_JWT_SECRET);
const now = () => Math.floor(Date.now() / 1000);
const b64 = (o: object) => btoa(JSON.stringify(o)).replace(/=+$/, "").replace(/\+/g, "-").replace(/\//g, "_");

async function hs256(
  claims: Record<string, unknown>,
  key: Uint8Array = secret,
  alg = "HS256",
): Promise<string> {
  return new SignJWT(claims).setProtectedHeader({ alg }).sign(key);
}

async function es256(claims: Record<string, unknown>, kid = "test-key-1"): Promise<string> {
  const jwk = JSON.parse(inject("jwksPrivateJwk"));
  return new SignJWT(claims).setProtectedHeader({ alg: "ES256", kid }).sign(await importJWK(jwk, "ES256"));
}

/** GET /me/request as the token's user: 404 means the token was accepted (no live request). */
async function withToken(token: string | null, overrides: Record<string, string> = {}) {
  const headers: Record<string, string> = token === null ? {} : { authorization: `Bearer ${token}` };
  if (Object.keys(overrides).length === 0)
    return SELF.fetch("https://matcher.test/api/v1/matching/me/request", { headers });
  return app.request("/api/v1/matching/me/request", { headers }, { ...env, ...overrides });
}

describe("authentication", () => {
  const rejected: Array<[string, () => Promise<string | null>, Record<string, string>?]> = [
    ["no token", async () => null],
    ["garbage", async () => "garbage"],
    [
      "alg: none",
      async () => `${b64({ alg: "none", typ: "JWT" })}.${b64({ sub: "eve", exp: now() + 600 })}.`,
    ],
    [
      "a forged signature",
      async () => hs256({ sub: "eve", exp: now() + 600 }, new TextEncoder().encode("x".repeat(40))),
    ],
    [
      "a tampered payload",
      async () => {
        const [h, , s] = (await hs256({ sub: "bob", exp: now() + 600 })).split(".");
        return `${h}.${b64({ sub: "admin", exp: now() + 600 })}.${s}`;
      },
    ],
    ["a wrong algorithm (HS512)", async () => hs256({ sub: "eve", exp: now() + 600 }, secret, "HS512")],
    [
      "algorithm confusion (HS256 keyed with the public JWKS)",
      async () => {
        const jwks = await (await fetch(inject("jwksUrl"))).text();
        return hs256({ sub: "eve", exp: now() + 600 }, new TextEncoder().encode(jwks));
      },
    ],
    ["expired beyond the 30 s tolerance", async () => hs256({ sub: "eve", exp: now() - 60 })],
    ["not yet valid", async () => hs256({ sub: "eve", exp: now() + 600, nbf: now() + 120 })],
    ["no exp", async () => hs256({ sub: "eve" })],
    ["no user claim", async () => hs256({ exp: now() + 600 })],
    ["an ES256 token from an unknown key", async () => es256({ sub: "eve", exp: now() + 600 }, "other-key")],
    [
      "the wrong issuer",
      async () => hs256({ sub: "eve", exp: now() + 600, iss: "https://evil.test" }),
      { JWT_ISSUER: "https://issuer.test" },
    ],
    [
      "the wrong audience",
      async () => hs256({ sub: "eve", exp: now() + 600, aud: "other" }),
      { JWT_AUDIENCE: "matcher" },
    ],
  ];

  it.each(rejected)("rejects %s with 401 and WWW-Authenticate", async (_name, token, overrides) => {
    const res = await withToken(await token(), overrides);
    expect(res.status).toBe(401);
    expect(res.headers.get("WWW-Authenticate")).toMatch(/^Bearer realm="matcher"/);
    const body = (await res.json()) as { error: { code: string; message: string } };
    expect(body.error.code).toBe("unauthorized");
    expect(body.error.message).not.toMatch(/at \w+ \(/); // never a stack trace
  });

  it("accepts a token expired within the 30 s clock tolerance", async () => {
    expect((await withToken(await hs256({ sub: newUser("u"), exp: now() - 10 }))).status).toBe(404);
  });

  it("accepts an ES256 token signed by the JWKS", async () => {
    expect((await withToken(await es256({ sub: newUser("u"), exp: now() + 600 }))).status).toBe(404);
  });

  it("accepts the right issuer and audience when they are enforced", async () => {
    const token = await hs256({
      sub: newUser("u"),
      exp: now() + 600,
      iss: "https://issuer.test",
      aud: "matcher",
    });
    expect(
      (await withToken(token, { JWT_ISSUER: "https://issuer.test", JWT_AUDIENCE: "matcher" })).status,
    ).toBe(404);
  });

  it("reads the user from JWT_USER_CLAIM (older PeerPrep tokens)", async () => {
    const user = newUser("legacy");
    const token = await hs256({ user_id: user, exp: now() + 600 });
    const res = await app.request(
      "/api/v1/matching/request",
      {
        method: "POST",
        headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
        body: JSON.stringify({ difficulty: "easy", topic: newTopic() }),
      },
      { ...env, JWT_USER_CLAIM: "user_id" },
    );
    expect(res.status).toBe(201);
    expect(await res.json()).toMatchObject({ userId: user });
  });

  it("accepts ?token= on the socket paths (and the event stream) only", async () => {
    const token = await hs256({ sub: newUser("u"), exp: now() + 600 });
    const http = await SELF.fetch(`https://matcher.test/api/v1/matching/me/request?token=${token}`);
    expect(http.status).toBe(401);
    const ws = await SELF.fetch(`https://matcher.test/parties/bucket/easy.${newTopic()}?token=${token}`, {
      headers: { Upgrade: "websocket" },
    });
    expect(ws.status).toBe(101);
    ws.webSocket!.accept();
    ws.webSocket!.close();
  });

  it("never lets a bad token reach a Durable Object", async () => {
    const topic = newTopic();
    const res = await SELF.fetch(`https://matcher.test/parties/bucket/easy.${topic}?token=nope`, {
      headers: { Upgrade: "websocket" },
    });
    expect(res.status).toBe(401);
    // Positive control: a good token to a sibling room does create that actor.
    const good = await SELF.fetch(
      `https://matcher.test/parties/bucket/hard.${topic}?token=${await hs256({ sub: newUser("u"), exp: now() + 600 })}`,
      { headers: { Upgrade: "websocket" } },
    );
    good.webSocket!.accept();
    const ids = (await listDurableObjectIds(env.Bucket)).map((id) => id.toString());
    expect(ids).toContain(env.Bucket.idFromName(`hard.${topic}`).toString());
    expect(ids).not.toContain(env.Bucket.idFromName(`easy.${topic}`).toString());
    good.webSocket!.close();
  });
});

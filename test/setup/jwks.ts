import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { exportJWK, generateKeyPair } from "jose";
import type { TestProject } from "vitest/node";

/**
 * A stand-in identity provider: an ES256 key set served over HTTP from Node, as Supabase or
 * Auth0 would serve theirs. The Worker under test fetches it through JWKS_URL; tests sign
 * tokens with the private key, which they receive through `inject("jwksPrivateJwk")`.
 */
export default async function setup(project: TestProject) {
  const { publicKey, privateKey } = await generateKeyPair("ES256", { extractable: true });
  const kid = "test-key-1";
  const jwks = JSON.stringify({ keys: [{ ...(await exportJWK(publicKey)), kid, alg: "ES256", use: "sig" }] });
  const server = createServer((req, res) => {
    if (req.url === "/.well-known/jwks.json") {
      res.writeHead(200, { "content-type": "application/json" }).end(jwks);
    } else {
      res.writeHead(404).end();
    }
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  project.provide("jwksUrl", `http://127.0.0.1:${port}/.well-known/jwks.json`);
  project.provide("jwksPrivateJwk", JSON.stringify({ ...(await exportJWK(privateKey)), kid, alg: "ES256" }));
  return () => new Promise<void>((resolve) => server.close(() => resolve()));
}

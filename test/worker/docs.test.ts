/// <reference types="vite/client" />
import { createExecutionContext, env, SELF, waitOnExecutionContext } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import assetsIgnore from "../../public/.assetsignore?raw";
import { app } from "../../src/http/app.ts";
import { OPENAPI_PATH } from "../../src/http/openapi.ts";
import wranglerToml from "../../wrangler.toml?raw";
import { newUser } from "./httpClient.ts";
import { tokenFor } from "./socketClient.ts";

/**
 * `/docs` is Swagger UI served from our own static assets (public/build/swagger-ui-dist/, made by
 * `npm run build:client`, which `npm test` runs first), and the OpenAPI document lists every route
 * the Worker serves. The Chromium run (test/e2e/run.ts) loads the page for real.
 */

const ORIGIN = "https://matcher.test";

/**
 * The files of the assets directory, as Vite sees them when it transforms this test. `SELF` is the
 * Worker's own entry, without the static assets router in front, so a static file cannot be
 * fetched here: "served" means in the assets directory, not ignored by .assetsignore, and not on
 * a path the Worker takes first (wrangler.toml `[assets]`).
 */
const assetFiles = import.meta.glob("../../public/**/*", { query: "?raw", import: "default" });

function servedAsStatic(urlPath: string): (() => Promise<unknown>) | undefined {
  const assets = wranglerToml.match(/\[assets\]([^[]*)/)?.[1] ?? "";
  if (
    assets
      .match(/directory\s*=\s*"([^"]+)"/)?.[1]
      ?.replace(/^\.\//, "")
      .replace(/\/$/, "") !== "public"
  )
    return undefined;
  const first = JSON.parse(assets.match(/run_worker_first\s*=\s*(\[[^\]]*\])/)?.[1] ?? "[]") as string[];
  if (first.some((p) => (p.endsWith("/*") ? urlPath.startsWith(p.slice(0, -1)) : urlPath === p)))
    return undefined;
  const ignored = assetsIgnore
    .split("\n")
    .map((l) => l.trim())
    .filter(Boolean);
  if (urlPath.split("/").some((segment) => ignored.includes(segment))) return undefined;
  return assetFiles[`../../public${urlPath}`];
}

type Operation = {
  security?: Array<Record<string, string[]>>;
  summary?: string;
  requestBody?: { content: Record<string, { example?: unknown }> };
};
type PathItem = { servers?: Array<{ url: string }> } & Record<string, unknown>;
type Document = {
  servers: Array<{ url: string }>;
  paths: Record<string, PathItem>;
  components: { securitySchemes: Record<string, { type: string; scheme?: string }> };
};

const METHODS = ["get", "put", "post", "delete", "patch", "head", "options"];

/** `METHOD /full/path` for every operation, each path under its own servers or the document's. */
function documentedOperations(doc: Document): Map<string, Operation> {
  const ops = new Map<string, Operation>();
  for (const [path, item] of Object.entries(doc.paths)) {
    const base = (item.servers?.[0]?.url ?? doc.servers[0]!.url).replace(/\/+$/, "");
    for (const method of METHODS) {
      if (item[method]) ops.set(`${method.toUpperCase()} ${base}${path}`, item[method] as Operation);
    }
  }
  return ops;
}

/** `METHOD /full/path` for every route of the Hono app (middleware, method ALL, left out). */
function appRoutes(): Set<string> {
  return new Set(
    app.routes
      .filter((r) => r.method !== "ALL")
      .map((r) => `${r.method} ${r.path.replace(/:(\w+)/g, "{$1}")}`),
  );
}

/** Routes that are not API operations, and why. */
const NOT_OPERATIONS = new Map([
  ["GET /docs", "the docs page itself"],
  [`GET ${OPENAPI_PATH}`, "the document itself"],
  [
    "GET /parties/bucket/{room}",
    "the WebSocket upgrade: the primary path, described in the document's description and docs/protocol.md, not an HTTP operation",
  ],
  [
    "GET /parties/user/{userId}",
    "the user's own channel: a WebSocket upgrade, described in docs/protocol.md",
  ],
]);

async function documentWith(vars: Record<string, string>): Promise<Document> {
  const res = await app.request(OPENAPI_PATH, {}, { ...env, ...vars });
  expect(res.status).toBe(200);
  return (await res.json()) as Document;
}

describe("GET /admin", () => {
  it("is the dashboard page, whose scripts and styles (uPlot's included) are all ours, each one served", async () => {
    const page = servedAsStatic("/admin.html");
    expect(page, "public/admin.html is served at /admin").toBeDefined();
    const html = (await page!()) as string;
    // Nothing in the page names another host: no CDN.
    expect(html.match(/(?:https?:)?\/\/[\w.-]+/gi) ?? []).toEqual([]);
    const scripts = [...html.matchAll(/<script\b[^>]*\bsrc="([^"]+)"/gi)].map((m) => m[1]!);
    const styles = [...html.matchAll(/<link\b[^>]*\bhref="([^"]+\.css)"/gi)].map((m) => m[1]!);
    expect(scripts).toContain("./build/uplot/uPlot.iife.min.js");
    expect(styles).toContain("./build/uplot/uPlot.min.css");
    for (const asset of [...scripts, ...styles]) {
      const url = new URL(asset, `${ORIGIN}/admin`);
      expect(url.origin, asset).toBe(ORIGIN);
      expect(
        servedAsStatic(url.pathname),
        `${asset} is not a static asset (run \`npm run build:client\`)`,
      ).toBeDefined();
    }
    // The endpoints the page reads are routes of the Worker, in the OpenAPI document.
    const script = (await servedAsStatic("/admin.js")!()) as string;
    const doc = await documentWith({});
    for (const path of [
      "/internal/queues/summary",
      "/internal/activity",
      "/internal/maintenance",
      "/status",
    ]) {
      expect(script, path).toContain(`"${path}"`);
      expect(Object.keys(doc.paths), path).toContain(path);
    }
  });
});

describe("GET /docs", () => {
  it("is Swagger UI whose scripts and styles are all ours, each one served", async () => {
    const res = await SELF.fetch(`${ORIGIN}/docs`);
    expect(res.status).toBe(200);
    expect(res.headers.get("content-type")).toContain("text/html");
    const html = await res.text();
    expect(html).toContain("SwaggerUIBundle(");

    // Nothing in the page names another host: no CDN, no validator badge, no fonts.
    expect(html.match(/(?:https?:)?\/\/[\w.-]+/gi) ?? []).toEqual([]);
    expect(html).toContain("validatorUrl: 'none'");

    const scripts = [...html.matchAll(/<script\b[^>]*\bsrc="([^"]+)"/gi)].map((m) => m[1]!);
    const styles = [...html.matchAll(/<link\b[^>]*\bhref="([^"]+)"/gi)].map((m) => m[1]!);
    expect(scripts).toEqual(["/build/swagger-ui-dist/swagger-ui-bundle.js"]);
    expect(styles).toEqual(["/build/swagger-ui-dist/swagger-ui.css"]);

    for (const asset of [...scripts, ...styles]) {
      const url = new URL(asset, `${ORIGIN}/docs`);
      expect(url.origin, asset).toBe(ORIGIN);
      const served = servedAsStatic(url.pathname);
      expect(served, `${asset} is not a static asset (run \`npm run build:client\`)`).toBeDefined();
      // Vitest empties CSS modules, so only the script's text can be read here.
      if (asset.endsWith(".js")) {
        const text = (await served!()) as string;
        expect(text.length, asset).toBeGreaterThan(100_000);
        // A bundle that pulled in more code from elsewhere would defeat the point.
        expect(text, asset).not.toMatch(/\bimport\(\s*["'`]https?:/);
      }
    }

    // The document the page reads is the one we serve.
    const specUrl = html.match(/\burl: '([^']+)'/)?.[1];
    expect(specUrl).toBe(OPENAPI_PATH);
    const spec = await SELF.fetch(new URL(specUrl!, ORIGIN));
    expect(spec.status).toBe(200);
    expect(((await spec.json()) as Document).paths["/request"]).toBeDefined();
  });
});

describe("the page's own requests", () => {
  it("finds a favicon (browsers ask /favicon.ico of every page)", () => {
    expect(servedAsStatic("/favicon.ico")).toBeDefined();
  });
});

describe("the OpenAPI document", () => {
  it("lists every route of the Worker (the dev token one where DEV_TOKENS=1)", async () => {
    const documented = documentedOperations(await documentWith({ DEV_TOKENS: "1" }));
    const undocumented = [...appRoutes()].filter((r) => !NOT_OPERATIONS.has(r) && !documented.has(r));
    expect(undocumented).toEqual([]);
  });

  it("lists no operation the Worker does not route, except those being built", async () => {
    const routes = appRoutes();
    const phantom = [...documentedOperations(await documentWith({ DEV_TOKENS: "1" })).keys()].filter(
      (op) => !routes.has(op),
    );
    expect(phantom).toEqual([]);
  });

  it("documents the dev token endpoint only where it exists", async () => {
    const res = await SELF.fetch(`${ORIGIN}${OPENAPI_PATH}`);
    const doc = (await res.json()) as Document;
    expect(Object.keys(doc.paths)).not.toContain("/dev/token");
    expect(Object.keys((await documentWith({ DEV_TOKENS: "1" })).paths)).toContain("/dev/token");
  });

  it("covers docs/protocol.md's HTTP API and operations, /metrics at the root", async () => {
    const ops = documentedOperations(await documentWith({}));
    for (const op of [
      "POST /api/v1/matching/request",
      "GET /api/v1/matching/request/{id}",
      "DELETE /api/v1/matching/request/{id}",
      "GET /api/v1/matching/me/request",
      "POST /api/v1/matching/confirm",
      "GET /api/v1/matching/matches/{id}",
      "GET /api/v1/matching/me/matches",
      "GET /api/v1/matching/queues/{difficulty}/{topic}",
      "GET /api/v1/matching/topics/popular",
      "GET /api/v1/matching/health",
      "GET /api/v1/matching/me/blocks",
      "PUT /api/v1/matching/me/blocks/{userId}",
      "DELETE /api/v1/matching/me/blocks/{userId}",
      "GET /api/v1/matching/status",
      "GET /metrics",
      "GET /api/v1/matching/internal/queues/summary",
      "GET /api/v1/matching/internal/maintenance",
      "PUT /api/v1/matching/internal/maintenance",
    ]) {
      expect(ops.has(op), op).toBe(true);
    }
  });

  it("gives every request body an example its route accepts as it is (Try it out, then Execute)", async () => {
    const doc = await documentWith({ DEV_TOKENS: "1" });
    const withBodies = [...documentedOperations(doc)].filter(([, operation]) => operation.requestBody);
    expect(withBodies.map(([op]) => op).sort()).toEqual([
      "POST /api/v1/matching/challenges",
      "POST /api/v1/matching/confirm",
      "POST /api/v1/matching/dev/token",
      "POST /api/v1/matching/request",
      "PUT /api/v1/matching/internal/maintenance",
    ]);
    for (const [op, operation] of withBodies) {
      const example = operation.requestBody?.content["application/json"]?.example;
      expect(example, `${op} has no example`).toBeDefined();
      const [method, path] = op.split(" ") as [string, string];
      // Authorized as a fresh user (an admin for the admin's paths), as a reader would be.
      const token = await tokenFor(
        newUser("reader"),
        path.includes("/internal/") ? { claims: { role: "admin" } } : {},
      );
      const ctx = createExecutionContext();
      const res = await app.request(
        path,
        {
          method,
          headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
          body: JSON.stringify(example),
        },
        { ...env, DEV_TOKENS: "1" },
        ctx,
      );
      await waitOnExecutionContext(ctx);
      const answer = await res.text();
      // A confirm names a match, which an example cannot know: it is accepted and then not found.
      if (op.endsWith("/confirm")) expect(res.status, `${op}: ${answer}`).toBe(404);
      else expect(res.status, `${op}: ${answer}`).toBeLessThan(300);
    }
  });

  it("shows counts and positions as plausible integers, not +-2^53", async () => {
    const text = JSON.stringify(await documentWith({ DEV_TOKENS: "1" }));
    expect(text).not.toContain(String(Number.MAX_SAFE_INTEGER));
  });

  it("has a bearer scheme for Authorize, required by every operation but the open ones", async () => {
    const doc = await documentWith({ DEV_TOKENS: "1" });
    expect(doc.components.securitySchemes.bearer).toMatchObject({ type: "http", scheme: "bearer" });
    const open = new Set([
      "GET /api/v1/matching/health",
      "GET /api/v1/matching/status",
      "POST /api/v1/matching/dev/token",
    ]);
    for (const [op, operation] of documentedOperations(doc)) {
      if (open.has(op)) expect(operation.security, op).toBeUndefined();
      else if (op === "GET /metrics") expect(operation.security).toEqual([{ metricsToken: [] }, {}]);
      else expect(operation.security, op).toEqual([{ bearer: [] }]);
    }
  });
});

/**
 * Part of `npm run build:client`: copies Swagger UI's browser files from the swagger-ui-dist
 * package into public/build/swagger-ui-dist/, where `/docs` (src/http/openapi.ts) loads them from.
 * Served as static assets by us, so the docs page needs no CDN and works offline.
 */
import { copyFileSync, mkdirSync, rmSync, statSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const ROOT = fileURLToPath(new URL("..", import.meta.url));
/** Must match `SWAGGER_UI_BASE` in src/http/openapi.ts plus the package name @hono/swagger-ui appends. */
const OUT = join(ROOT, "public", "build", "swagger-ui-dist");
const FILES = [
  "swagger-ui-bundle.js",
  "swagger-ui-bundle.js.map",
  "swagger-ui.css",
  "swagger-ui.css.map",
  "LICENSE",
  "NOTICE",
];

const from = dirname(createRequire(import.meta.url).resolve("swagger-ui-dist/package.json"));
rmSync(OUT, { recursive: true, force: true });
mkdirSync(OUT, { recursive: true });
let bytes = 0;
for (const file of FILES) {
  copyFileSync(join(from, file), join(OUT, file));
  if (!file.endsWith(".map")) bytes += statSync(join(OUT, file)).size;
}
console.log(`copied Swagger UI to ${OUT} (${(bytes / 1024).toFixed(1)} kB without source maps)`);

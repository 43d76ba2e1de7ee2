/**
 * Part of `npm run build:client`: copies the browser files of the two pages we serve with a
 * library into public/build/: Swagger UI (swagger-ui-dist) for `/docs` (src/http/openapi.ts) and
 * uPlot for the operators' dashboard `/admin` (public/admin.html). Served as static assets by us,
 * so neither page needs a CDN and both work offline.
 */
import { copyFileSync, mkdirSync, rmSync, statSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const ROOT = fileURLToPath(new URL("..", import.meta.url));

const PACKAGES = [
  {
    name: "swagger-ui-dist",
    /** Must match `SWAGGER_UI_BASE` in src/http/openapi.ts plus the package name @hono/swagger-ui appends. */
    out: "swagger-ui-dist",
    files: [
      "swagger-ui-bundle.js",
      "swagger-ui-bundle.js.map",
      "swagger-ui.css",
      "swagger-ui.css.map",
      "LICENSE",
      "NOTICE",
    ],
  },
  {
    name: "uplot",
    /** Where public/admin.html loads it from. */
    out: "uplot",
    files: ["dist/uPlot.iife.min.js", "dist/uPlot.min.css", "LICENSE"],
  },
];

const require = createRequire(import.meta.url);
for (const pkg of PACKAGES) {
  const from = dirname(require.resolve(`${pkg.name}/package.json`));
  const out = join(ROOT, "public", "build", pkg.out);
  rmSync(out, { recursive: true, force: true });
  mkdirSync(out, { recursive: true });
  let bytes = 0;
  for (const file of pkg.files) {
    const to = join(out, file.split("/").at(-1) ?? file);
    copyFileSync(join(from, file), to);
    if (!file.endsWith(".map")) bytes += statSync(to).size;
  }
  console.log(`copied ${pkg.name} to ${out} (${(bytes / 1024).toFixed(1)} kB without source maps)`);
}

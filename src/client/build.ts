/**
 * `npm run build:client`: bundle the SDK for browsers into public/build/match-client.js.
 * zod re-exports every locale (≈260 kB) through `z.locales`; the SDK only needs English, so the
 * locale index is swapped for one that exports `en` alone.
 */
import { build, type Plugin } from "esbuild";

const englishOnly: Plugin = {
  name: "zod-english-only",
  setup(b) {
    b.onResolve({ filter: /\/locales\/index\.js$/ }, (args) =>
      args.importer.includes("/node_modules/zod/") ? { path: "zod-locales", namespace: "zod-en" } : undefined,
    );
    b.onLoad({ filter: /.*/, namespace: "zod-en" }, () => ({
      contents: 'export { default as en } from "zod/v4/locales/en.js";',
      resolveDir: process.cwd(),
    }));
  },
};

const result = await build({
  entryPoints: ["src/client/index.ts"],
  bundle: true,
  format: "esm",
  target: "es2022",
  platform: "browser",
  minify: true,
  sourcemap: true,
  outfile: "public/build/match-client.js",
  plugins: [englishOnly],
  metafile: true,
  logLevel: "warning",
});
for (const [file, out] of Object.entries(result.metafile.outputs)) {
  if (file.endsWith(".js")) console.log(`built ${file} (${(out.bytes / 1024).toFixed(1)} kB)`);
}

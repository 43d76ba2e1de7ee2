import { cloudflareTest } from "@cloudflare/vitest-plugin";
import { defineConfig } from "vitest/config";
import { TEST_JWT_SECRET } from "./test/testSecret.ts";

export default defineConfig({
  test: {
    // At the root, not in the Workers project: there Vite resolves packages with worker/browser
    // conditions, and the database and bridge are Node programs.
    globalSetup: ["test/setup/database.ts", "test/setup/jwks.ts", "test/setup/standInServices.ts"],
    projects: [
      {
        // The Worker and its Durable Objects, running in workerd exactly as deployed.
        plugins: [
          cloudflareTest(({ inject }) => ({
            wrangler: { configPath: "./wrangler.toml" },
            miniflare: {
              bindings: {
                JWT_SECRET: TEST_JWT_SECRET,
                DATABASE_URL: inject<string>("databaseUrl"),
                NEON_WS_PROXY: inject<string>("wsProxy"),
                JWKS_URL: inject<string>("jwksUrl"),
                VERSION: "test",
              },
            },
          })),
        ],
        test: {
          name: "workers",
          // One file at a time: a file may take the shared database away (outbox tests), and
          // two workerd test isolates would only fight over two cores anyway.
          fileParallelism: false,
          include: ["test/worker/**/*.test.ts"],
          testTimeout: 20_000,
          hookTimeout: 30_000,
        },
      },
      {
        test: {
          name: "node",
          environment: "node",
          include: ["test/node/**/*.test.ts"],
          testTimeout: 30_000,
          hookTimeout: 60_000,
        },
      },
    ],
  },
});

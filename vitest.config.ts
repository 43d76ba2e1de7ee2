import { cloudflareTest } from "@cloudflare/vitest-plugin";
import { defineConfig, type TestProjectInlineConfiguration } from "vitest/config";
import { collabPoolUrls } from "./test/orchestrated/collabPoolKeys.ts";
import { TEST_JWT_SECRET } from "./test/testSecret.ts";

/**
 * The Worker and its Durable Objects, running in workerd exactly as deployed, with settings on
 * top of wrangler.toml. Each project is one Worker configuration; a test that needs different
 * settings for the actors (which read them at construction) gets its own project.
 */
function workersProject(
  name: string,
  include: string[],
  settings: (inject: <T>(key: string) => T) => Record<string, string> = () => ({}),
): TestProjectInlineConfiguration {
  return {
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
            ...settings(inject),
          },
        },
      })),
    ],
    test: {
      name,
      // One file at a time: a file may take the shared database away (outbox tests), and two
      // workerd test isolates would only fight over two cores anyway.
      fileParallelism: false,
      include,
      testTimeout: 20_000,
      hookTimeout: 30_000,
    },
  };
}

export default defineConfig({
  test: {
    // At the root, not in a Workers project: there Vite resolves packages with worker/browser
    // conditions, and the database, bridge and stand-in services are Node programs.
    globalSetup: ["test/setup/database.ts", "test/setup/jwks.ts", "test/setup/standInServices.ts"],
    projects: [
      workersProject("workers", ["test/worker/**/*.test.ts"]),
      // Actors that ask the question and collaboration services on confirm; the collaboration
      // service is a pool of two URLs (the same stand-in under two counted prefixes).
      workersProject("orchestrated", ["test/orchestrated/**/*.test.ts"], (inject) => {
        const byTopic = inject<Record<string, string>>("standInServices")["by-topic"]!;
        return { QUESTION_SERVICE_URL: byTopic, COLLAB_SERVICE_URL: collabPoolUrls(byTopic).join(",") };
      }),
      // A deployment made with MAINTENANCE=1 (the deploy-time default the runtime switch overrides).
      workersProject("maintenance", ["test/maintenance/**/*.test.ts"], () => ({ MAINTENANCE: "1" })),
      // A deployment upgraded from per-user registry objects, inside its upgrade window.
      workersProject("upgrade", ["test/upgrade/**/*.test.ts"], () => ({
        LEGACY_REGISTRY_UNTIL: "2999-01-01T00:00:00Z",
      })),
      {
        test: {
          name: "node",
          environment: "node",
          include: ["test/node/**/*.test.ts", "bench/**/*.test.ts"],
          testTimeout: 30_000,
          hookTimeout: 60_000,
        },
      },
    ],
  },
});

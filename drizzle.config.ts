import { defineConfig } from "drizzle-kit";

// Only `generate` is used: migrations are applied by scripts/migrate.ts through the Neon driver,
// the same path the Worker uses, so PGlite, a local PostgreSQL and Neon are migrated alike.
export default defineConfig({
  dialect: "postgresql",
  schema: "./src/db/schema.ts",
  out: "./migrations",
});

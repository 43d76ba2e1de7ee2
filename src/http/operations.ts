import { Hono } from "hono";
import { createMiddleware } from "hono/factory";
import { timingSafeEqual } from "hono/utils/buffer";
import { directory, registryShardAt } from "../actors.ts";
import {
  activityAnswer,
  maintenanceAnswer,
  maintenanceBody,
  queueSummaryAnswer,
  statusAnswer,
} from "../protocol/http.ts";
import { DEFAULT_TENANT } from "../tenancy.ts";
import { ApiError } from "./apiError.ts";
import { authenticate } from "./authenticate.ts";
import type { AppEnv } from "./context.ts";
import { databaseUp } from "./health.ts";
import { validJson } from "./validJson.ts";

/**
 * Operating the service (docs/operations.md): `/status` and `/metrics` from the directory's
 * live figures (never a call to every bucket), and the admin endpoints. Maintenance is switched
 * in the tenant's registry shards, which every new request is claimed from anyway: it takes
 * effect at once on every bucket and costs the join path nothing.
 */

/** `/api/v1/matching/status` (no auth). */
export const status = new Hono<AppEnv>().get("/", async (c) => {
  const config = c.get("config");
  const [db, figures, maintenance] = await Promise.all([
    databaseUp(config),
    directory(c.env).figures(),
    registryShardAt(c.env, DEFAULT_TENANT, 0).maintenance(),
  ]);
  c.header("Cache-Control", "no-store");
  return c.json(
    statusAnswer.parse({
      status: db ? "ok" : "degraded",
      version: config.VERSION,
      db: db ? "up" : "down",
      maintenance: maintenance.on,
      buckets: { active: figures.active, waiting: figures.waiting },
      matchesLastHour: figures.matchesLastHour,
    }),
  );
});

/** `/metrics` at the root (Prometheus convention); `METRICS_TOKEN` bearer when set. */
export const metrics = new Hono<AppEnv>().get("/", async (c) => {
  const token = c.get("config").METRICS_TOKEN;
  const presented = /^Bearer\s+(\S+)\s*$/i.exec(c.req.header("authorization") ?? "")?.[1] ?? "";
  if (token && !(await timingSafeEqual(presented, token))) {
    throw new ApiError(401, "unauthorized", "`/metrics` needs `Authorization: Bearer <METRICS_TOKEN>`.", {
      headers: { "WWW-Authenticate": 'Bearer realm="metrics"' },
    });
  }
  return c.text(await directory(c.env).metrics(), 200, {
    "Content-Type": "text/plain; version=0.0.4; charset=utf-8",
    "Cache-Control": "no-store",
  });
});

const requireAdmin = createMiddleware<AppEnv>(async (c, next) => {
  if (!c.get("identity").admin) {
    const claim = c.get("config").JWT_ADMIN_CLAIM;
    throw new ApiError(403, "forbidden", `Admins only: the token's \`${claim}\` claim must be \`admin\`.`);
  }
  await next();
});

/** `/api/v1/matching/internal/*`: an admin's view of, and switches for, their own tenant. */
export const internal = new Hono<AppEnv>()
  .use(authenticate, requireAdmin)
  .get("/queues/summary", async (c) => {
    const buckets = await directory(c.env).summary(c.get("identity").tenant);
    c.header("Cache-Control", "no-store");
    return c.json(queueSummaryAnswer.parse(buckets));
  })
  .get("/activity", async (c) => {
    const activity = await directory(c.env).activity(c.get("identity").tenant);
    c.header("Cache-Control", "no-store");
    return c.json(activityAnswer.parse(activity));
  })
  .get("/maintenance", async (c) => {
    const state = await registryShardAt(c.env, c.get("identity").tenant, 0).maintenance();
    return c.json(maintenanceAnswer.parse(state));
  })
  .put("/maintenance", async (c) => {
    const { on } = await validJson(c, maintenanceBody);
    const { tenant } = c.get("identity");
    // Every shard of the tenant, since each claims for its own users; a retry after a partial
    // failure sets the rest (setting a shard twice keeps its first time).
    const shards = Array.from({ length: c.get("config").REGISTRY_SHARDS }, (_, i) => i);
    await Promise.all(shards.map((i) => registryShardAt(c.env, tenant, i).setMaintenance(on)));
    const state = await registryShardAt(c.env, tenant, 0).maintenance();
    return c.json(maintenanceAnswer.parse(state));
  });

import { BucketActor as Bucket } from "../../src/bucket/BucketActor.ts";
import { UserActor as User } from "../../src/challenges/UserActor.ts";
import type { Env } from "../../src/env.ts";
import { app } from "../../src/http/app.ts";
import { Directory as Dir } from "../../src/operations/Directory.ts";
import { RegistryShard as Shard } from "../../src/registry/RegistryShard.ts";
import { UserRegistry as Legacy } from "../../src/registry/UserRegistry.ts";
import {
  advanceClock,
  countRequest,
  fireAlarmNow,
  keepRealStorage,
  meteredNamespace,
  meterStorage,
  snapshot,
  takeTouched,
} from "./meter.ts";

/**
 * The service as `npm start` runs it, with every Durable Object's storage and calls counted
 * (./meter.ts): the entry `npm run bench` starts for its rows phase (`BENCH_WORKER_ENTRY`).
 * Same classes, bindings and migrations as wrangler.toml; three extra routes for the bench:
 *   GET  /__bench/meter          the counters (MeterSnapshot)
 *   POST /__bench/prune?ms=N     move the clock N ms ahead, then fire every alarm that is set
 *                                in the objects that wrote since the last prune (retention
 *                                comes due: what an hour's wait would do)
 *   POST /__bench/clock?ms=N     move the clock by N ms (negative: back, after a prune)
 */

const BINDING_CLASS: Record<string, string> = {
  Bucket: "BucketActor",
  Registry: "RegistryShard",
  LegacyRegistry: "UserRegistry",
  Directory: "Directory",
  User: "UserActor",
};

const meteredEnvs = new WeakMap<Env, Env>();

/** The env with each Durable Object namespace counting its stubs' calls. */
function meteredEnv(env: Env): Env {
  let out = meteredEnvs.get(env);
  if (!out) {
    const copy: Record<string, unknown> = { ...env };
    for (const [binding, cls] of Object.entries(BINDING_CLASS)) {
      const ns = copy[binding] as DurableObjectNamespace | undefined;
      if (ns) copy[binding] = meteredNamespace(ns, cls);
    }
    out = copy as unknown as Env;
    meteredEnvs.set(env, out);
  }
  return out;
}

type ObjectClass = new (ctx: DurableObjectState, env: Env) => object;

/**
 * `Base` with its storage counted and its env's stubs counting; alarms and WebSocket messages
 * (hibernation events) count as requests to it. `benchFireAlarm` serves the prune route.
 */
function metered<T>(Base: T, binding: string): T {
  const cls = BINDING_CLASS[binding]!;
  const B = Base as unknown as ObjectClass;
  const Metered = class extends B {
    constructor(ctx: DurableObjectState, env: Env) {
      keepRealStorage(ctx);
      meterStorage(ctx, cls);
      super(ctx, meteredEnv(env));
      benchState.set(this, ctx);
    }
  };
  const proto = B.prototype as Record<string, unknown>;
  for (const [method, kind] of [
    ["alarm", "alarm"],
    ["webSocketMessage", "wsMessage"],
  ] as const) {
    const original = proto[method];
    if (typeof original !== "function") continue;
    Object.defineProperty(Metered.prototype, method, {
      value(this: object, ...args: unknown[]) {
        countRequest(cls, kind);
        return Reflect.apply(original, this, args);
      },
      writable: true,
      configurable: true,
    });
  }
  Object.defineProperty(Metered.prototype, "benchFireAlarm", {
    value(this: object) {
      const ctx = benchState.get(this);
      return ctx ? fireAlarmNow(ctx) : false;
    },
    writable: true,
    configurable: true,
  });
  return Metered as unknown as T;
}

const benchState = new WeakMap<object, DurableObjectState>();

export const BucketActor = metered(Bucket, "Bucket");
export const RegistryShard = metered(Shard, "Registry");
export const UserRegistry = metered(Legacy, "LegacyRegistry");
export const Directory = metered(Dir, "Directory");
export const UserActor = metered(User, "User");

type Fireable = { benchFireAlarm(): Promise<boolean> };

async function prune(env: Env, ms: number): Promise<{ fired: number; objects: number }> {
  advanceClock(ms);
  let fired = 0;
  let objects = 0;
  const bindingOf = new Map(Object.entries(BINDING_CLASS).map(([b, c]) => [c, b]));
  for (const [cls, ids] of takeTouched()) {
    const binding = bindingOf.get(cls)!;
    const ns = (env as unknown as Record<string, DurableObjectNamespace>)[binding]!;
    for (const id of ids) {
      objects++;
      const stub = ns.get(ns.idFromString(id)) as unknown as Fireable;
      if (await stub.benchFireAlarm()) fired++;
    }
  }
  return { fired, objects };
}

export default {
  async fetch(request: Request, env: Env, ctx: ExecutionContext): Promise<Response> {
    const url = new URL(request.url);
    if (url.pathname === "/__bench/meter") return Response.json(snapshot());
    if (url.pathname === "/__bench/prune" && request.method === "POST")
      return Response.json(await prune(env, Number(url.searchParams.get("ms") ?? 0)));
    if (url.pathname === "/__bench/clock" && request.method === "POST") {
      advanceClock(Number(url.searchParams.get("ms") ?? 0));
      return Response.json(snapshot().clockOffsetMs);
    }
    return app.fetch(request, meteredEnv(env), ctx);
  },
} satisfies ExportedHandler<Env>;

import type { Env as WorkerEnv } from "../../src/env.ts";

// `env` from cloudflare:test is typed by this interface: make it the Worker's own.
declare global {
  namespace Cloudflare {
    interface Env extends WorkerEnv {}
  }
}

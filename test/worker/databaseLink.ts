import { runDurableObjectAlarm } from "cloudflare:test";
import { expect, inject, vi } from "vitest";
import { bucketStub } from "./socketClient.ts";

/** Cut or restore the Worker's link to Postgres (test/setup/switchableLink.ts). */
export async function database(state: "up" | "down" | "hang"): Promise<void> {
  const res = await fetch(`${inject("databaseSwitchUrl")}/${state}`, { method: "POST" });
  expect(await res.json()).toEqual({ up: state === "up" });
}

/** Run the actor's alarm as if `ms` had passed (delivery backs off after failures); false if none was set. */
export async function alarmAfter(room: string, ms: number): Promise<boolean> {
  vi.useFakeTimers({ toFake: ["Date"] });
  vi.setSystemTime(Date.now() + ms);
  try {
    return await runDurableObjectAlarm(bucketStub(room));
  } finally {
    vi.useRealTimers();
  }
}

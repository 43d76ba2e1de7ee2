import { SELF } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import { maintenanceAnswer, statusAnswer } from "../../src/protocol/http.ts";
import { API, newTopic, newUser } from "../worker/httpClient.ts";
import { tokenFor } from "../worker/socketClient.ts";

/** `MAINTENANCE=1` as deployed: new requests refused everywhere until an admin switches it off. */

async function call(method: string, path: string, claims: Record<string, unknown>, body?: unknown) {
  return SELF.fetch(`${API}${path}`, {
    method,
    headers: {
      authorization: `Bearer ${await tokenFor(newUser("u"), { claims })}`,
      "content-type": "application/json",
    },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
}

describe("maintenance as deployed", () => {
  it("refuses new requests, shows it in /status and the admin view, and an admin can switch it off", async () => {
    const tenant = `d-${crypto.randomUUID().slice(0, 8)}`;
    const claims = { tenant_id: tenant };
    const admin = { ...claims, role: "admin" };
    const topic = newTopic();
    const refused = await call("POST", "/request", claims, { difficulty: "easy", topic });
    expect(refused.status).toBe(503);
    expect(await refused.json()).toMatchObject({ error: { code: "maintenance" } });
    const status = statusAnswer.parse(await (await SELF.fetch(`${API}/status`)).json());
    expect(status.maintenance).toBe(true);
    expect(maintenanceAnswer.parse(await (await call("GET", "/internal/maintenance", admin)).json())).toEqual(
      {
        on: true,
        since: null,
      },
    );
    const off = await call("PUT", "/internal/maintenance", admin, { on: false });
    expect(maintenanceAnswer.parse(await off.json())).toMatchObject({ on: false });
    expect((await call("POST", "/request", claims, { difficulty: "easy", topic })).status).toBe(201);
  });
});

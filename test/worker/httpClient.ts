import { SELF } from "cloudflare:test";
import { tokenFor } from "./socketClient.ts";

export const API = "https://matcher.test/api/v1/matching";

/** Call the API as `userId`; `body` objects are sent as JSON. */
export async function api(
  userId: string | null,
  method: string,
  path: string,
  body?: unknown,
  headers: Record<string, string> = {},
): Promise<{ status: number; json: unknown; headers: Headers }> {
  const h: Record<string, string> = { ...headers };
  if (userId) h.authorization = `Bearer ${await tokenFor(userId)}`;
  let payload: string | undefined;
  if (body !== undefined) {
    payload = typeof body === "string" ? body : JSON.stringify(body);
    h["content-type"] ??= "application/json";
  }
  const res = await SELF.fetch(`${API}${path}`, { method, headers: h, body: payload });
  const text = await res.text();
  let json: unknown = text;
  try {
    json = JSON.parse(text);
  } catch {
    // Non-JSON answers are returned as text so a test can show them.
  }
  return { status: res.status, json, headers: res.headers };
}

/** A user id unique to the calling test. */
export function newUser(name: string): string {
  return `${name}-${crypto.randomUUID().slice(0, 8)}`;
}

export function newTopic(): string {
  return `t-${crypto.randomUUID().slice(0, 12)}`;
}

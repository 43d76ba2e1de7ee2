import type { z } from "zod";

/** What the SDK's socket clients (`MatchClient`, `UserChannel`) share: options, events, decoding. */

/** Something with the shape of the standard WebSocket constructor (browsers, Node >= 22, `ws`). */
export type WebSocketConstructor = new (url: string, protocols?: string | string[]) => WebSocket;

export type ConnectionOptions = {
  /** `127.0.0.1:8787`, `matcher.example.com`, or a full origin such as `https://matcher.example.com`. */
  host: string;
  /** Called before every (re)connect, so an expiring token can be refreshed. */
  getToken: () => Promise<string>;
  /** A WebSocket implementation, when the runtime has no global one. */
  WebSocket?: WebSocketConstructor;
  /** Reconnect back-off bounds in ms (partysocket's); defaults 1000 and 10000. */
  minReconnectionDelay?: number;
  maxReconnectionDelay?: number;
};

/** Connection events, beside each frame type. */
export type ConnectionEvents = {
  /** The socket opened; `resumed` is true after a reconnect. */
  open: { resumed: boolean };
  /** The socket closed; `willReconnect` is false once the client is done. */
  closed: { code: number; reason: string; willReconnect: boolean };
  /** A frame that did not match the protocol (ignored otherwise). */
  invalid_frame: { data: string; problem: string };
};

export function protocolOf(host: string): "ws" | "wss" | undefined {
  if (/^(https|wss):\/\//i.test(host)) return "wss";
  if (/^(http|ws):\/\//i.test(host)) return "ws";
  return undefined;
}

/** A received frame checked against its protocol's schema, or why it is not one. */
export function decodeFrame<S extends z.ZodType>(
  schema: S,
  data: unknown,
): { ok: true; frame: z.output<S> } | ({ ok: false } & ConnectionEvents["invalid_frame"]) {
  const text = typeof data === "string" ? data : String(data);
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    return { ok: false, data: text, problem: "not JSON" };
  }
  const parsed = schema.safeParse(json);
  if (!parsed.success)
    return { ok: false, data: text, problem: parsed.error.issues[0]?.message ?? "invalid" };
  return { ok: true, frame: parsed.data };
}

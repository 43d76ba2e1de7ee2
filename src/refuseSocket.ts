import type { ErrorCode, ServerFrame } from "./protocol/frames.ts";

/**
 * Refuse a WebSocket upgrade in the protocol's own terms: browsers cannot read an HTTP status
 * from a failed upgrade, so accept, say why in an `error` frame, and close with the contract's
 * code. The socket is a plain (not hibernatable) one on purpose: its close completes at once,
 * whereas the runtime keeps a hibernatable socket's connection open after a close the server
 * starts until the object hibernates, when the client's first frame is its reply Close (#12,
 * README "Closes").
 */
export function refuseSocket(code: ErrorCode, message: string, closeCode: number): Response {
  const { 0: client, 1: server } = new WebSocketPair();
  server.accept();
  server.send(JSON.stringify({ type: "error", code, message } satisfies ServerFrame));
  server.close(closeCode, code);
  return new Response(null, { status: 101, webSocket: client });
}

import type { ErrorCode, ServerFrame } from "./protocol/frames.ts";

/**
 * Refuse a WebSocket upgrade in the protocol's own terms: browsers cannot read an HTTP status
 * from a failed upgrade, so accept, say why in an `error` frame, and close with the contract's
 * code. The socket is a plain (not hibernatable) one on purpose: its close completes at once,
 * whereas the runtime keeps a hibernatable socket's connection open after a close the server
 * starts until the object hibernates, when the client's first frame is its reply Close
 * (docs/architecture.md, "Closes").
 */
export function refuseSocket(code: ErrorCode, message: string, closeCode: number): Response {
  return answerSocket([{ type: "error", code, message }], { code: closeCode, reason: code });
}

/**
 * Answer a connect with frames and a close and nothing else (an outcome owed from before, or the
 * last words of a request that ended), on the same kind of plain socket as a refusal.
 */
export function answerSocket(frames: ServerFrame[], close: { code: number; reason: string }): Response {
  const { 0: client, 1: server } = new WebSocketPair();
  server.accept();
  for (const frame of frames) server.send(JSON.stringify(frame));
  server.close(close.code, close.reason);
  return new Response(null, { status: 101, webSocket: client });
}

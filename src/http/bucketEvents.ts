import { Hono } from "hono";
import { streamSSE } from "hono/streaming";
import { joinRefusal, type Refusal, unavailable } from "../bucket/refusal.ts";
import {
  endMarker,
  eventsQuery,
  frameEvent,
  HEARTBEAT,
  HEARTBEAT_MS,
  isFinalClose,
  streamStart,
} from "../protocol/events.ts";
import { CloseCode } from "../protocol/frames.ts";
import { withTimeout } from "../withTimeout.ts";
import { ApiError } from "./apiError.ts";
import { authenticateWithQueryToken } from "./authenticate.ts";
import { checkJoin, joinBucket } from "./bucketJoin.ts";
import type { AppEnv } from "./context.ts";
import { fromRefusal } from "./matchRequests.ts";
import { type InboxItem, SocketInbox } from "./socketInbox.ts";

/** A bucket answers a join with its first frame at once; this only bounds a lost one. */
const FIRST_FRAME_TIMEOUT_MS = 10_000;

/**
 * `GET /api/v1/matching/events?difficulty=&topic=`: the bucket protocol as Server-Sent Events,
 * for clients without WebSockets. The Worker joins exactly as the socket route does and holds
 * the bucket's WebSocket for as long as the stream is open, so the bucket still hibernates and
 * sees a closed stream as a dropped socket (the reconnect grace applies). The client acts through
 * the HTTP API (`POST /confirm`, `DELETE /request/{id}`).
 */
export const bucketEvents = new Hono<AppEnv>().get("/", authenticateWithQueryToken, async (c) => {
  const query = eventsQuery.safeParse({ difficulty: c.req.query("difficulty"), topic: c.req.query("topic") });
  if (!query.success) {
    throw new ApiError(400, "invalid_parameter", "`difficulty` and `topic` name the bucket; see details.", {
      details: query.error.issues.map((i) => ({ path: i.path.join("."), message: i.message, code: i.code })),
    });
  }
  const join = checkJoin(c, query.data);
  const start = streamStart(c.req.header("last-event-id"));
  // An EventSource reconnecting after the bucket ended its stream: 204 stops it (see endMarker).
  if (start.ended) return c.body(null, 204);

  const upgraded = await joinBucket(c, join);
  if (!upgraded.webSocket) return upgraded;
  const inbox = new SocketInbox(upgraded.webSocket);
  // Refusals come as the socket's first frame; they are answered as HTTP errors before any stream.
  const first = await firstFrame(inbox);
  if (first.kind === "closed") refuse(inbox, unavailable());
  if (first.error) refuse(inbox, joinRefusal(first.error.code, first.error.message));

  return streamSSE(c, async (stream) => {
    let id = start.firstId;
    // Closing the stream is a disconnect: the bucket starts the request's reconnect grace.
    stream.onAbort(() => inbox.close(CloseCode.normal, "stream closed"));
    // The runtime tells of a client that hung up through the request's signal
    // (`enable_request_signal`); without it, only a failed write (a heartbeat) would.
    c.req.raw.signal.addEventListener("abort", () => stream.abort());
    const heartbeat = setInterval(() => void stream.write(HEARTBEAT), HEARTBEAT_MS);
    try {
      await stream.writeSSE(frameEvent(first.type, first.text, id));
      for (;;) {
        const item = await inbox.next();
        if (item.kind === "closed") {
          if (!stream.aborted && isFinalClose(item.code)) await stream.write(endMarker(id));
          return;
        }
        if (item.type === "pong") continue;
        id += 1;
        await stream.writeSSE(frameEvent(item.type, item.text, id));
      }
    } finally {
      clearInterval(heartbeat);
      inbox.close(CloseCode.normal, "stream ended");
    }
  });
});

function refuse(inbox: SocketInbox, refusal: Refusal): never {
  inbox.close(CloseCode.normal, "refused");
  throw fromRefusal(refusal);
}

/** The first frame that is not the answer to our own opening ping, or the close. */
async function firstFrame(inbox: SocketInbox): Promise<InboxItem> {
  const read = async () => {
    for (;;) {
      const item = await inbox.next();
      if (item.kind === "closed" || item.type !== "pong") return item;
    }
  };
  try {
    return await withTimeout(read(), FIRST_FRAME_TIMEOUT_MS, () => new Error("no first frame"));
  } catch {
    return { kind: "closed", code: 1006 };
  }
}

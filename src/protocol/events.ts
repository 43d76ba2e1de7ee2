import { z } from "zod";
import { CloseCode } from "./frames.ts";
import { difficultySchema, topicSchema } from "./values.ts";

/**
 * The Server-Sent Events form of the bucket protocol (`GET /api/v1/matching/events`): the same
 * frames as the socket, one SSE event each. Pure, so the rules below are tested without a runtime.
 */

/** The bucket of a stream: the socket route's room, as two query parameters. */
export const eventsQuery = z.object({ difficulty: difficultySchema, topic: topicSchema });

/**
 * A comment line this often. The contract asks for one at least every 25 s (proxies and load
 * balancers cut idle connections, many at 30 s), but it is also how the Worker learns that a
 * client hung up: workerd notices a closed connection only when it next writes to it (then
 * `request.signal` aborts), so this bounds how long a closed stream still counts as connected
 * before its reconnect grace starts.
 */
export const HEARTBEAT_MS = 5_000;
export const HEARTBEAT = ": heartbeat\n\n";

/** One SSE event, in the fields Hono's `writeSSE` takes. */
export type SseEvent = { event: string; data: string; id: string };

/**
 * A frame as the bucket sent it, as an event named by its `type`. The text is relayed as it came,
 * so fields the schemas of this build do not know yet still reach the client.
 */
export function frameEvent(type: string, text: string, id: number): SseEvent {
  return { event: type, data: text, id: String(id) };
}

const END_SUFFIX = "-end";

/**
 * After the bucket ends a stream for good, the last event id becomes `{n}-end` (an `id:` line
 * with no data, which EventSource records without firing an event). An EventSource reconnects on
 * its own when a stream ends, sending that id as `Last-Event-ID`; that reconnect is answered 204,
 * which stops it, rather than joining the queue again behind the user's back.
 */
export function endMarker(lastId: number): string {
  return `id: ${lastId}${END_SUFFIX}\n\n`;
}

/**
 * How a stream starts, from the `Last-Event-ID` the client sent. Ids are a per-stream sequence;
 * a reconnect continues after the id it names so a client's ids keep growing across reconnects.
 * Nothing is replayed: on resume the bucket sends the request's current state (`queued`, or
 * `match_found` while a match is proposed), which is what a client that missed events needs.
 */
export type StreamStart = { ended: true } | { ended: false; firstId: number };

export function streamStart(lastEventId: string | undefined): StreamStart {
  const m = /^(\d{1,15})(-end)?$/.exec(lastEventId?.trim() ?? "");
  if (!m) return { ended: false, firstId: 1 };
  if (m[2]) return { ended: true };
  return { ended: false, firstId: Number(m[1]) + 1 };
}

/**
 * Closes after which the request has ended or lives on elsewhere, so a reconnect would only
 * start a new request or take the request from the newer connection: match_ready, cancelled or a
 * decline (1000), queue timeout, replaced by a newer connection, token expired (the client needs
 * a new token, hence a new stream), and the join refusals. Any other close (the bucket restarted
 * under us) leaves the request in its reconnect grace, and a reconnect resumes it.
 */
const FINAL_CLOSES: ReadonlySet<number> = new Set([
  CloseCode.normal,
  CloseCode.queueTimeout,
  CloseCode.replaced,
  CloseCode.unauthorized,
  CloseCode.rateLimited,
  CloseCode.alreadyQueuedElsewhere,
  CloseCode.tryAgainLater,
]);

export function isFinalClose(code: number): boolean {
  return FINAL_CLOSES.has(code);
}

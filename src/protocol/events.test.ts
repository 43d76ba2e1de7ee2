import assert from "node:assert/strict";
import { test } from "node:test";
import { endMarker, eventsQuery, frameEvent, HEARTBEAT_MS, isFinalClose, streamStart } from "./events.ts";
import { CloseCode } from "./frames.ts";

test("a fresh stream numbers its events from 1", () => {
  assert.deepEqual(streamStart(undefined), { ended: false, firstId: 1 });
  assert.deepEqual(streamStart(""), { ended: false, firstId: 1 });
  // Someone else's id scheme, or garbage: start over rather than refuse.
  assert.deepEqual(streamStart("abc"), { ended: false, firstId: 1 });
  assert.deepEqual(streamStart("-3"), { ended: false, firstId: 1 });
});

test("a reconnect continues after the id it last saw", () => {
  assert.deepEqual(streamStart("7"), { ended: false, firstId: 8 });
  assert.deepEqual(streamStart(" 12 "), { ended: false, firstId: 13 });
});

test("a reconnect after the server ended the stream is told it ended", () => {
  assert.deepEqual(streamStart("7-end"), { ended: true });
  // The marker is an id line with no data: EventSource records it without firing an event.
  assert.equal(endMarker(7), "id: 7-end\n\n");
});

test("the bucket's own closes end a stream for good; a lost connection does not", () => {
  for (const code of [
    CloseCode.normal,
    CloseCode.queueTimeout,
    CloseCode.replaced,
    CloseCode.unauthorized,
    CloseCode.alreadyQueuedElsewhere,
  ]) {
    assert.equal(isFinalClose(code), true, `close ${code}`);
  }
  for (const code of [1001, 1006, 1011]) assert.equal(isFinalClose(code), false, `close ${code}`);
});

test("events are named by the frame's type and carry its text unchanged", () => {
  const text = '{"type":"queued","requestId":"req_12345678","extra":1}';
  assert.deepEqual(frameEvent("queued", text, 3), { event: "queued", data: text, id: "3" });
});

test("the bucket is canonical, as on the socket", () => {
  assert.deepEqual(eventsQuery.parse({ difficulty: "Easy", topic: "Dynamic Programming" }), {
    difficulty: "easy",
    topic: "dynamic-programming",
  });
  assert.equal(eventsQuery.safeParse({ difficulty: "trivial", topic: "arrays" }).success, false);
  assert.equal(eventsQuery.safeParse({ difficulty: "easy" }).success, false);
});

test("heartbeats come at least every 25 s", () => {
  assert.ok(HEARTBEAT_MS < 25_000);
});

import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { WaitStats } from "./waitStats.ts";

const MIN = 60_000;
const HOUR = 3_600_000;
const T = 1_735_732_800_000; // a whole minute

describe("WaitStats.percentile", () => {
  test("is null before any match", () => {
    const w = new WaitStats();
    assert.equal(w.percentile(50), null);
    assert.equal(w.percentile(90), null);
  });

  test("picks the nearest-rank value of the recorded waits, rounded to whole ms", () => {
    const w = new WaitStats();
    for (const ms of [40, 10.4, 30, 20]) w.recordMatch(ms, T);
    assert.equal(w.percentile(0), 10);
    assert.equal(w.percentile(50), 30);
    assert.equal(w.percentile(90), 40);
    assert.equal(w.percentile(100), 40);
  });

  test("a new match is taken into account at once", () => {
    const w = new WaitStats();
    w.recordMatch(1000, T);
    assert.equal(w.percentile(50), 1000);
    w.recordMatch(5000, T);
    w.recordMatch(9000, T);
    assert.equal(w.percentile(50), 5000);
    w.recordMatch(0, T);
    w.recordMatch(0, T);
    assert.equal(w.percentile(50), 1000);
  });

  test("keeps only the 256 most recent waits", () => {
    const w = new WaitStats();
    for (let i = 1; i <= 300; i++) w.recordMatch(i, T);
    assert.equal(w.percentile(0), 45, "waits 1..44 were dropped");
    assert.equal(w.percentile(100), 300);
    for (let i = 0; i < 256; i++) w.recordMatch(7, T);
    assert.equal(w.percentile(0), 7);
    assert.equal(w.percentile(100), 7);
  });
});

describe("WaitStats.matchedLastHour", () => {
  test("counts matches of the last hour only", () => {
    const w = new WaitStats();
    assert.equal(w.matchedLastHour(T), 0);
    w.recordMatch(0, T);
    w.recordMatch(0, T + 10 * 1000);
    w.recordMatch(0, T + 30 * MIN);
    assert.equal(w.matchedLastHour(T + 30 * MIN), 3);
    assert.equal(w.matchedLastHour(T + HOUR - 1), 3);
    assert.equal(w.matchedLastHour(T + HOUR), 1, "the first minute has left the window");
    assert.equal(w.matchedLastHour(T + 30 * MIN + HOUR), 0);
  });

  test("stays bounded whatever the traffic, and still counts the last hour", () => {
    const w = new WaitStats();
    for (let m = 0; m < 500; m++) for (let k = 0; k < 3; k++) w.recordMatch(0, T + m * MIN);
    assert.equal(w.matchedLastHour(T + 499 * MIN), 60 * 3);
  });
});

import { describe, expect, it } from "vitest";
import { OneAlarm } from "../../src/OneAlarm.ts";

/** The storage calls an owner's deadlines cost: each is a row written. */
function recordingStorage(initial: number | null = null) {
  const calls: string[] = [];
  let at = initial;
  const storage = {
    getAlarm: async () => at,
    setAlarm: async (t: number) => {
      calls.push(`set ${t}`);
      at = t;
    },
    deleteAlarm: async () => {
      calls.push("delete");
      at = null;
    },
  };
  return { storage: storage as unknown as DurableObjectStorage, calls };
}

describe("one alarm per object", () => {
  it("is written when the earliest deadline moves, and not when it did not", () => {
    const s = recordingStorage();
    const alarm = new OneAlarm(s.storage);
    alarm.aim([null, 5_000]);
    alarm.aim([5_000, 9_000]);
    alarm.aim([9_000, 5_000]);
    alarm.aim([3_000, 9_000]);
    alarm.aim([null, null]);
    alarm.aim([null]);
    expect(s.calls).toEqual(["set 5000", "set 3000", "delete"]);
  });

  it("knows the alarm an earlier instance left, and one that rang is gone", async () => {
    const s = recordingStorage(4_000);
    const alarm = new OneAlarm(s.storage);
    await alarm.load();
    alarm.aim([4_000, 8_000]);
    expect(s.calls).toEqual([]);
    alarm.fired();
    alarm.aim([8_000]);
    expect(s.calls).toEqual(["set 8000"]);
  });
});

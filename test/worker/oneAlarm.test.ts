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
  return { storage: storage as unknown as DurableObjectStorage, calls, at: () => at };
}

describe("one alarm per object", () => {
  it("is set when a deadline comes earlier, and not again when the earliest did not move", () => {
    const s = recordingStorage();
    const alarm = new OneAlarm(s.storage);
    alarm.aim([null, 5_000]);
    alarm.aim([5_000, 9_000]);
    alarm.aim([3_000, 9_000]);
    expect(s.calls).toEqual(["set 5000", "set 3000"]);
  });

  it("stays where it is when the earliest deadline moves later or goes: the early wake aims again", () => {
    const s = recordingStorage();
    const alarm = new OneAlarm(s.storage);
    alarm.aim([1_000, 60_000]);
    // The waiter due at 1 s paired; then nothing is left to wake for.
    alarm.aim([60_000]);
    alarm.aim([null]);
    expect(s.calls).toEqual(["set 1000"]);
    expect(s.at()).toBe(1_000);
    // It rang at 1 s with nothing due: the owner aims at what is left.
    alarm.fired();
    alarm.aim([60_000]);
    expect(s.calls).toEqual(["set 1000", "set 60000"]);
  });

  it("knows the alarm an earlier instance left, and does not set it again", async () => {
    const s = recordingStorage(4_000);
    const alarm = new OneAlarm(s.storage);
    await alarm.load();
    alarm.aim([4_000]);
    alarm.aim([7_000]);
    expect(s.calls).toEqual([]);
    alarm.aim([2_000]);
    expect(s.calls).toEqual(["set 2000"]);
  });
});

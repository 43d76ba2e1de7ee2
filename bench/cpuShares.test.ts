import { describe, expect, it } from "vitest";
import { type CpuProfile, cpuShares, moduleLines } from "./cpuShares.ts";

/** A profile whose nodes form chains root -> ... -> leaf, one sample of 1 ms per listed leaf. */
function profileOf(chains: Array<Array<[name: string, line?: number]>>, samples: number[][]): CpuProfile {
  const nodes: CpuProfile["nodes"] = [
    { id: 1, callFrame: { functionName: "(root)", url: "", lineNumber: -1 } },
  ];
  const leaves: number[] = [];
  for (const chain of chains) {
    let parent = nodes[0]!;
    for (const [name, line] of chain) {
      const node = {
        id: nodes.length + 1,
        callFrame: { functionName: name, url: line === undefined ? "" : "index.js", lineNumber: line ?? -1 },
      };
      nodes.push(node);
      parent.children = [...(parent.children ?? []), node.id];
      parent = node;
    }
    leaves.push(parent.id);
  }
  const flat = samples.flatMap((s, chain) => s.map(() => leaves[chain]!));
  return {
    nodes,
    samples: flat,
    timeDeltas: flat.map(() => 1000),
    startTime: 0,
    endTime: flat.length * 1000,
  };
}

const bundle = [
  "// src/http/bucketSocket.ts",
  "x",
  "// node_modules/jose/dist/verify.js",
  "y",
  "// src/bucket/BucketActor.ts",
  "z",
  "// node_modules/@neondatabase/serverless/index.mjs",
  "w",
  "// src/bucket/bucketStorage.ts",
  "v",
].join("\n");

describe("cpuShares", () => {
  it("charges a sample to the innermost frame that names a concern", () => {
    const p = profileOf(
      [
        [["fetch"], ["verifyToken"], ["verifySignature"]],
        [["fetch"], ["onConnect"], ["#admit"], ["#claimInRegistry"]],
        [["fetch"], ["onConnect"], ["#admit"], ["write"], ["exec"]],
      ],
      [[1, 1], [1, 1, 1], [1]],
    );
    expect(cpuShares(p)).toEqual([
      { share: "registry call, this side (runtime starts the user's object)", ms: 3 },
      { share: "JWT check (jose)", ms: 2 },
      { share: "bucket SQLite writes", ms: 1 },
    ]);
  });

  it("tells apart functions of the same name by the module they lie in", () => {
    const p = profileOf(
      [
        [
          ["#deliverOutbox", 5],
          ["write", 7],
        ],
        [
          ["(anon)", 7],
          ["write", 7],
        ],
        [
          ["#run", 5],
          ["write", 9],
        ],
      ],
      [[1], [1, 1], [1, 1, 1]],
    );
    expect(cpuShares(p, moduleLines(bundle))).toEqual([
      { share: "outbox -> Postgres (drizzle, Neon driver)", ms: 3 },
      { share: "bucket SQLite writes", ms: 3 },
    ]);
  });

  it("charges code resumed after an await by the module it lies in, and leaves idle out", () => {
    const lines = moduleLines(bundle);
    expect([lines(0), lines(1), lines(3), lines(5)]).toEqual([
      "src/http/bucketSocket.ts",
      "src/http/bucketSocket.ts",
      "node_modules/jose/dist/verify.js",
      "src/bucket/BucketActor.ts",
    ]);
    const p = profileOf(
      [[["(anon)", 3]], [["(anon)", 5]], [["(idle)"]], [["(program)"]], [["mystery"]]],
      [[1], [1, 1], [1, 1, 1], [1], [1]],
    );
    expect(cpuShares(p, lines)).toEqual([
      { share: "bucket: matching, frames, partyserver", ms: 2 },
      { share: "JWT check (jose)", ms: 1 },
      { share: "runtime: native work and GC", ms: 1 },
      { share: "runtime's own JavaScript (timers, Node compatibility layer)", ms: 1 },
    ]);
  });
});

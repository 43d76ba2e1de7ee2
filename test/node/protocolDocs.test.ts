import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { userClientFrameSchema, userFrameSchema } from "../../src/protocol/challenges.ts";
import {
  CloseCode,
  clientFrameSchema,
  errorCodeSchema,
  matchCancelReasonSchema,
  serverFrameSchema,
} from "../../src/protocol/frames.ts";
import { PROJECT_ROOT } from "../support/localProcesses.ts";

/**
 * docs/protocol.md is what a client author reads; the zod schemas in src/protocol/ are what the
 * service speaks. Every frame, error code, cancel reason and close code the page's tables name
 * must exist in the code, and everything the schemas define must be on the page.
 */

type Table = { header: string[]; rows: string[][] };

function tablesOf(markdown: string): Table[] {
  const tables: Table[] = [];
  let current: string[][] = [];
  const flush = () => {
    if (current.length >= 2) tables.push({ header: current[0]!, rows: current.slice(2) });
    current = [];
  };
  for (const line of markdown.split("\n")) {
    if (line.startsWith("|"))
      current.push(
        line
          .split("|")
          .slice(1, -1)
          .map((cell) => cell.trim()),
      );
    else flush();
  }
  flush();
  return tables;
}

/** The names a table's first column gives: backticked words, or bare numbers for closes. */
function firstColumn(tables: Table[], kind: string, second?: string): string[] {
  return tables
    .filter((t) => t.header[0]?.toLowerCase() === kind && (second === undefined || t.header[1] === second))
    .flatMap((t) => t.rows.map((row) => row[0] ?? ""))
    .flatMap((cell) => [...cell.matchAll(/`([^`]+)`|^(\d+)$/g)].map((m) => m[1] ?? m[2]!));
}

function sourceText(dir: string): string {
  return readdirSync(dir, { recursive: true, encoding: "utf8" })
    .filter((file) => file.endsWith(".ts") && !file.endsWith(".test.ts"))
    .map((file) => readFileSync(join(dir, file), "utf8"))
    .join("\n");
}

const page = readFileSync(join(PROJECT_ROOT, "docs/protocol.md"), "utf8");
const tables = tablesOf(page);
const src = sourceText(join(PROJECT_ROOT, "src"));

const frameTypes = [
  ...serverFrameSchema.options,
  ...clientFrameSchema.options,
  ...userFrameSchema.options,
  userClientFrameSchema,
].map((schema) => schema.shape.type.value as string);

describe("docs/protocol.md", () => {
  it("names exactly the frames the schemas define", () => {
    const documented = firstColumn(tables, "frame");
    expect(documented.length).toBeGreaterThan(0);
    expect(documented.filter((t) => !frameTypes.includes(t))).toEqual([]);
    expect([...new Set(frameTypes)].filter((t) => !documented.includes(t))).toEqual([]);
  });

  it("names exactly the error frame's codes", () => {
    const documented = firstColumn(tables, "code", "meaning");
    const codes: string[] = errorCodeSchema.options;
    expect(documented.length).toBeGreaterThan(0);
    expect(documented.filter((c) => !codes.includes(c))).toEqual([]);
    expect(codes.filter((c) => !documented.includes(c))).toEqual([]);
  });

  it("names exactly the reasons a match is cancelled for", () => {
    const documented = firstColumn(tables, "reason");
    const reasons: string[] = matchCancelReasonSchema.options;
    expect(documented.filter((r) => !reasons.includes(r))).toEqual([]);
    expect(reasons.filter((r) => !documented.includes(r))).toEqual([]);
  });

  it("names only HTTP error codes the service answers with", () => {
    const documented = firstColumn(tables, "code", "status");
    expect(documented.length).toBeGreaterThan(20);
    expect(documented.filter((c) => !src.includes(`"${c}"`))).toEqual([]);
  });

  it("names every close code the service uses, and no other", () => {
    const documented = firstColumn(tables, "close").map(Number);
    const named: number[] = Object.values(CloseCode);
    // A close the code sends by number rather than by name (the `unavailable` refusal).
    const used = (code: number) => named.includes(code) || new RegExp(`\\b${code}\\b`).test(src);
    expect(documented.filter((code) => !used(code))).toEqual([]);
    expect(named.filter((code) => !documented.includes(code))).toEqual([]);
  });
});

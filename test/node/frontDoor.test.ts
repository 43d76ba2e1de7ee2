import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { PROJECT_ROOT } from "../support/localProcesses.ts";

/** What a newcomer reads first stays short, complete and about the product as it is. */

const read = (path: string) => readFileSync(join(PROJECT_ROOT, path), "utf8");
const readme = read("README.md");
const userDocs = [
  "README.md",
  "CHANGELOG.md",
  ...readdirSync(join(PROJECT_ROOT, "docs")).map((f) => `docs/${f}`),
];

describe("the README", () => {
  it("reads in a few minutes", () => {
    expect(readme.split("\n").length).toBeLessThanOrEqual(200);
  });

  it("says what every dependency is for", () => {
    const pkg = JSON.parse(read("package.json")) as Record<string, Record<string, string>>;
    const table = readme.slice(readme.indexOf("## Dependencies"));
    const named = new Set([...table.matchAll(/`([^`]+)`/g)].map((m) => m[1]));
    const deps = [...Object.keys(pkg.dependencies ?? {}), ...Object.keys(pkg.devDependencies ?? {})];
    expect(deps.filter((d) => !named.has(d))).toEqual([]);
  });
});

describe("the user docs", () => {
  it.each(userDocs)("%s names no issue number and links nothing outside the clone", (path) => {
    const text = read(path);
    expect(text).not.toMatch(/(^|[\s(])#\d+\b/m);
    expect(text).not.toMatch(/\]\(\.\.\/\.\.\/|\]\(\.\.\/shared|CONTRACT\.md/);
  });
});

import { readFileSync, writeFileSync } from "node:fs";
import { type Results, renderSvg } from "./report.ts";

/** `node bench/chart.ts results/<ts>.json [out.svg]`: redraw the chart of an earlier run. */
const [input, output] = process.argv.slice(2);
if (!input) {
  console.error("usage: node bench/chart.ts bench/results/<timestamp>.json [out.svg]");
  process.exit(2);
}
const results = JSON.parse(readFileSync(input, "utf8")) as Results;
writeFileSync(output ?? input.replace(/\.json$/, ".svg"), renderSvg(results));

import { readFileSync, writeFileSync } from "node:fs";
import { type Results, renderSvg, type VsFloorResults } from "./report.ts";

/** `node bench/chart.ts results/<ts>.json [out.svg]`: redraw the chart of an earlier run. */
const [input, output] = process.argv.slice(2);
if (!input) {
  console.error("usage: node bench/chart.ts bench/results/<timestamp>.json [out.svg]");
  process.exit(2);
}
const parsed = JSON.parse(readFileSync(input, "utf8")) as Results | VsFloorResults;
// A --vs-floor file holds both runs; its chart is the service's, as the run drew it.
const results = "vsFloor" in parsed ? parsed.service : parsed;
writeFileSync(output ?? input.replace(/\.json$/, ".svg"), renderSvg(results));

/// <reference path="../worker/prometheusText.d.ts" />
import { readFileSync } from "node:fs";
import { join } from "node:path";
import parsePrometheusTextFormat from "parse-prometheus-text-format";
import { describe, expect, it } from "vitest";
import { WAIT_BUCKETS_SECONDS } from "../../src/operations/figures.ts";
import { renderMetrics } from "../../src/operations/metrics.ts";
import { matchCancelReasonSchema } from "../../src/protocol/frames.ts";
import { PROJECT_ROOT } from "../support/localProcesses.ts";

/**
 * deploy/grafana/edge-matcher.json only draws what `/metrics` exposes: every series a panel or
 * variable queries, and every label it groups or filters by, is one the Directory's scrape
 * (src/operations/metrics.ts) writes. A renamed metric or label fails here, not as an empty panel.
 */

type Target = { expr: string; refId: string; datasource?: { uid?: string } };
type Panel = { id: number; title: string; type: string; targets?: Target[]; panels?: Panel[] };
type Dashboard = {
  __inputs: Array<{ name: string; type: string; pluginId: string }>;
  uid: string;
  title: string;
  panels: Panel[];
  templating: { list: Array<{ name: string; definition?: string; query?: { query: string } | string }> };
};

const board = JSON.parse(
  readFileSync(join(PROJECT_ROOT, "deploy", "grafana", "edge-matcher.json"), "utf8"),
) as Dashboard;

/** What Grafana replaces with the data source picked on import (`__inputs`). */
const IMPORTED_SOURCE = ["$", "{DS_PROMETHEUS}"].join("");

/** Labels Prometheus adds to every scraped series itself. */
const TARGET_LABELS = new Set(["job", "instance"]);

/** PromQL's functions, aggregations and keywords that may stand where a metric name could. */
const PROMQL = new Set([
  "sum",
  "avg",
  "min",
  "max",
  "count",
  "rate",
  "irate",
  "increase",
  "delta",
  "histogram_quantile",
  "clamp_min",
  "clamp_max",
  "vector",
  "scalar",
  "topk",
  "bottomk",
  "abs",
  "round",
  "offset",
  "and",
  "or",
  "unless",
  "bool",
]);

/** Every series name the scrape has (a histogram's `_bucket`, `_sum`, `_count`) with its labels. */
async function exposed(): Promise<Map<string, Set<string>>> {
  const text = await renderMetrics({
    counters: [
      { name: "joins", labels: {}, value: 3 },
      ...matchCancelReasonSchema.options.map((reason) => ({
        name: "cancellations",
        labels: { reason },
        value: 1,
      })),
      { name: "queue_timeouts", labels: {}, value: 1 },
    ],
    waiting: 1,
    activeBuckets: 1,
    waitBuckets: WAIT_BUCKETS_SECONDS.map(() => 1).concat(1),
    waitSum: 2,
  });
  const series = new Map<string, Set<string>>();
  for (const family of parsePrometheusTextFormat(text)) {
    const labels = new Set(family.metrics.flatMap((m) => Object.keys(m.labels ?? {})));
    if (family.type === "HISTOGRAM") {
      series.set(`${family.name}_bucket`, new Set([...labels, "le"]));
      series.set(`${family.name}_sum`, labels);
      series.set(`${family.name}_count`, labels);
    } else {
      series.set(family.name, labels);
    }
  }
  return series;
}

/** The metric names an expression selects: what is left once strings, label sets, ranges and groupings go. */
function metricsIn(expr: string): string[] {
  const bare = expr
    .replace(/"(?:[^"\\]|\\.)*"/g, '""')
    .replace(/\{[^}]*\}/g, " ")
    .replace(/\[[^\]]*\]/g, " ")
    .replace(/\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)/g, " ")
    .replace(/\$\w+/g, " ");
  return (bare.match(/[A-Za-z_:][A-Za-z0-9_:]*/g) ?? []).filter((id) => !PROMQL.has(id));
}

/** Label names an expression filters (`{name=...}`) or groups by (`by (a, b)`). */
function labelsIn(expr: string): string[] {
  const filtered = [...expr.matchAll(/\{([^}]*)\}/g)].flatMap((m) =>
    [...(m[1] ?? "").matchAll(/([A-Za-z_][A-Za-z0-9_]*)\s*(?:=~|!~|!=|=)/g)].map((l) => l[1] ?? ""),
  );
  const grouped = [...expr.matchAll(/\b(?:by|without)\s*\(([^)]*)\)/g)].flatMap((m) =>
    (m[1] ?? "").split(",").map((l) => l.trim()),
  );
  return [...filtered, ...grouped].filter(Boolean);
}

function panelsOf(panels: Panel[]): Panel[] {
  return panels.flatMap((p) => [p, ...panelsOf(p.panels ?? [])]);
}

const queries = [
  ...panelsOf(board.panels).flatMap((p) =>
    (p.targets ?? []).map((t) => ({ where: `panel "${p.title}" ${t.refId}`, expr: t.expr })),
  ),
  ...board.templating.list.map((v) => ({
    where: `variable $${v.name}`,
    expr: asSelector(typeof v.query === "string" ? v.query : (v.query?.query ?? v.definition ?? "")),
  })),
];

/** Grafana's `label_values(metric, label)` as the selector it reads: `metric{label=""}`. */
function asSelector(query: string): string {
  return query.replace(/^label_values\(\s*([A-Za-z_:][\w:]*)\s*,\s*(\w+)\s*\)$/, '$1{$2=""}');
}

describe("the Grafana board", () => {
  it("is an importable dashboard that asks for its Prometheus data source", () => {
    expect(board.uid).toMatch(/^[\w-]{1,40}$/);
    expect(board.title).toBeTruthy();
    expect(board.__inputs).toEqual([
      expect.objectContaining({ name: "DS_PROMETHEUS", type: "datasource", pluginId: "prometheus" }),
    ]);
    const panels = panelsOf(board.panels);
    expect(new Set(panels.map((p) => p.id)).size, "panel ids are unique").toBe(panels.length);
    for (const p of panels) {
      for (const t of p.targets ?? []) {
        expect(t.datasource?.uid, `panel "${p.title}" uses the imported data source`).toBe(IMPORTED_SOURCE);
      }
    }
  });

  it("queries only metrics and labels that /metrics exposes", async () => {
    const series = await exposed();
    expect(queries.length).toBeGreaterThan(0);
    for (const { where, expr } of queries) {
      const names = metricsIn(expr);
      expect(names.length, `${where} selects a metric: ${expr}`).toBeGreaterThan(0);
      for (const name of names) {
        expect([...series.keys()], `${where} queries ${name}`).toContain(name);
      }
      const known = new Set([...TARGET_LABELS, ...names.flatMap((n) => [...(series.get(n) ?? [])])]);
      for (const label of labelsIn(expr)) {
        expect([...known], `${where} uses the label ${label} of ${names.join(", ")}`).toContain(label);
      }
    }
  });

  it("draws joins, outcomes, wait quantiles, cancellations, waiting requests and active buckets", () => {
    const all = queries.map((q) => q.expr).join("\n");
    for (const needed of [
      "matcher_joins_total",
      "matcher_matches_total",
      "matcher_wait_seconds_bucket",
      "matcher_match_cancellations_total",
      "matcher_waiting_requests",
      "matcher_active_buckets",
    ]) {
      expect(all).toContain(needed);
    }
    expect(all).toMatch(/histogram_quantile\(0\.5,/);
  });
});

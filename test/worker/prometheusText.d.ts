/** The parser has no types of its own; this is the shape it documents (prom2json's). */
declare module "parse-prometheus-text-format" {
  type Sample = { value: string; labels?: Record<string, string> };
  type HistogramSample = {
    buckets: Record<string, string>;
    count: string;
    sum: string;
    labels?: Record<string, string>;
  };
  export type MetricFamily =
    | { name: string; help: string; type: "COUNTER" | "GAUGE" | "UNTYPED"; metrics: Sample[] }
    | { name: string; help: string; type: "HISTOGRAM"; metrics: HistogramSample[] };
  export default function parsePrometheusTextFormat(text: string): MetricFamily[];
}

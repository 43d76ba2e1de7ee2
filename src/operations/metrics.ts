import { Counter, Gauge, Histogram, Registry } from "prom-client";
import { MATCH_OUTCOMES, type Totals, WAIT_BUCKETS_SECONDS } from "./figures.ts";

/**
 * `/metrics` in the Prometheus text format, written by prom-client from the directory's stored
 * totals. prom-client keeps values in memory and has no way to load a histogram's buckets, so a
 * fresh registry is filled from storage per scrape: counters by `inc` with their totals, and the
 * histogram by a subclass that answers its stored buckets (see `StoredHistogram`).
 */
export async function renderMetrics(t: Totals): Promise<string> {
  const registry = new Registry();
  const counter = (name: string, help: string, labelNames: string[] = []) =>
    new Counter({ name, help, labelNames, registers: [registry] });
  const joins = counter(
    "matcher_joins_total",
    "Requests created (socket and HTTP joins that started a request).",
  );
  const matches = counter(
    "matcher_matches_total",
    "Matches by outcome: proposed, then confirmed or cancelled.",
    ["outcome"],
  );
  const cancellations = counter(
    "matcher_match_cancellations_total",
    "Proposed matches that fell through, by reason.",
    ["reason"],
  );
  const timeouts = counter("matcher_queue_timeouts_total", "Requests that waited out the queue timeout.");
  const handOvers = counter(
    "matcher_handovers_total",
    "Asks by one bucket for a request waiting in several (flexible requests), by answer: granted, or refused because another bucket or its home had paired it.",
    ["result"],
  );
  for (const outcome of MATCH_OUTCOMES) matches.inc({ outcome }, 0);
  for (const result of ["granted", "refused"]) handOvers.inc({ result }, 0);
  for (const c of t.counters) {
    if (c.name === "joins") joins.inc(c.value);
    else if (c.name === "matches") matches.inc(c.labels, c.value);
    else if (c.name === "cancellations") cancellations.inc(c.labels, c.value);
    else if (c.name === "queue_timeouts") timeouts.inc(c.value);
    else if (c.name === "handovers") handOvers.inc(c.labels, c.value);
  }
  new Gauge({
    name: "matcher_waiting_requests",
    help: "Requests waiting in a queue now.",
    registers: [registry],
  }).set(t.waiting);
  new Gauge({
    name: "matcher_active_buckets",
    help: "Buckets with a live request (waiting or in a proposed match).",
    registers: [registry],
  }).set(t.activeBuckets);
  registry.registerMetric(
    new StoredHistogram(
      {
        ...WAIT_HISTOGRAM,
        buckets: [...WAIT_BUCKETS_SECONDS],
        registers: [],
      },
      t.waitBuckets,
      t.waitSum,
    ),
  );
  return registry.metrics();
}

const WAIT_HISTOGRAM = {
  name: "matcher_wait_seconds",
  help: "Wait from joining to match_found, per user matched.",
};

/** A series as prom-client's registry formats it. */
type StoredSeries = {
  name: string;
  help: string;
  type: "histogram";
  aggregator: "sum";
  values: Array<{ labels: Record<string, string | number>; value: number; metricName: string }>;
};

/** A histogram whose buckets come from storage rather than from `observe` calls. */
class StoredHistogram extends Histogram {
  readonly #counts: number[];
  readonly #sum: number;

  constructor(config: ConstructorParameters<typeof Histogram>[0], counts: number[], sum: number) {
    super(config);
    this.#counts = counts;
    this.#sum = sum;
  }

  /**
   * What prom-client's registry formats a histogram from (its `get` is built on this too): the
   * stored buckets, cumulative as the format wants them, then the sum and the count.
   */
  async getForPromString(): Promise<StoredSeries> {
    const name = WAIT_HISTOGRAM.name;
    let cumulative = 0;
    const values: StoredSeries["values"] = [];
    for (const [i, le] of [...WAIT_BUCKETS_SECONDS, "+Inf"].entries()) {
      cumulative += this.#counts[i] ?? 0;
      values.push({ labels: { le }, value: cumulative, metricName: `${name}_bucket` });
    }
    return {
      ...WAIT_HISTOGRAM,
      type: "histogram",
      aggregator: "sum",
      values: [
        ...values,
        { labels: {}, value: this.#sum, metricName: `${name}_sum` },
        { labels: {}, value: cumulative, metricName: `${name}_count` },
      ],
    };
  }
}

import { monitorEventLoopDelay } from 'node:perf_hooks';

type Labels = Readonly<Record<string, string>>;

const LOOP_TIMER_MILLISECONDS = 10;

/**
 * monitorEventLoopDelay records the whole interval between its timer's runs, so an idle loop reads 10 ms
 * (measured: min 9.1, mean 10.2 ms). The stall is what exceeds the timer's period, in seconds.
 */
export function lateness(intervalNanoseconds: number): number {
  return Math.max(0, intervalNanoseconds / 1e6 - LOOP_TIMER_MILLISECONDS) / 1000;
}

const NEEDS_ESCAPE = /[\\"\n]/;

function escapeLabelValue(value: string): string {
  return NEEDS_ESCAPE.test(value) ? value.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n') : value;
}

/** `{key="value",...}`, or '' without labels. Runs for every counted event, so no arrays on the way. */
function labelText(labels: Labels): string {
  let text = '';
  for (const key in labels) text += `${text === '' ? '{' : ','}${key}="${escapeLabelValue(labels[key]!)}"`;
  return text === '' ? '' : `${text}}`;
}

interface Counter {
  kind: 'counter';
  help: string;
  values: Map<string, { labels: Labels; value: number }>;
}

interface Histogram {
  kind: 'histogram';
  help: string;
  bucketsSeconds: readonly number[];
  counts: number[];
  sum: number;
  count: number;
}

/** Values read at scrape time (outbox depth, memory): the collector returns one value per label set. */
type Collector = () => Promise<Array<{ labels: Labels; value: number }>> | Array<{ labels: Labels; value: number }>;

/**
 * A small Prometheus text-format registry: counters, one-label-set histograms and gauges collected at
 * scrape time. Enough for mailotp's few series without a dependency.
 */
export class Metrics {
  readonly #counters = new Map<string, Counter>();
  readonly #histograms = new Map<string, Histogram>();
  readonly #gauges = new Map<string, { help: string; collect: Collector }>();
  readonly #loopDelay = monitorEventLoopDelay({ resolution: LOOP_TIMER_MILLISECONDS });
  /** The same measure, restarted at every scrape: the longest stall within a window the scraper chooses. */
  readonly #recentLoopDelay = monitorEventLoopDelay({ resolution: LOOP_TIMER_MILLISECONDS });

  constructor() {
    this.#loopDelay.enable();
    this.#recentLoopDelay.enable();
    this.gauge('mailotp_event_loop_max_stall_seconds', 'Longest event-loop delay since the server began serving', () => [{ labels: {}, value: lateness(this.#loopDelay.max) }]);
    // Like prom-client's nodejs_eventloop_lag_max_seconds: reset on every scrape, so with one scraper it
    // is the longest stall of each scrape interval (the benchmark reads it per load level).
    this.gauge('mailotp_event_loop_recent_max_stall_seconds', 'Longest event-loop delay since the previous scrape of /metrics', () => {
      const value = lateness(this.#recentLoopDelay.max);
      this.#recentLoopDelay.reset();
      return [{ labels: {}, value }];
    });
    this.gauge('mailotp_event_loop_p99_delay_seconds', '99th percentile event-loop delay since the server began serving', () => [{ labels: {}, value: lateness(this.#loopDelay.percentile(99)) }]);
    this.gauge('process_resident_memory_bytes', 'Resident set size', () => [{ labels: {}, value: process.memoryUsage.rss() }]);
  }

  counter(name: string, help: string): (labels?: Labels, amount?: number) => void {
    const counter: Counter = this.#counters.get(name) ?? { kind: 'counter', help, values: new Map() };
    this.#counters.set(name, counter);
    return (labels: Labels = {}, amount = 1) => {
      const key = labelText(labels);
      const entry = counter.values.get(key) ?? { labels, value: 0 };
      entry.value += amount;
      counter.values.set(key, entry);
    };
  }

  histogram(name: string, help: string, bucketsSeconds: readonly number[]): (seconds: number) => void {
    const histogram: Histogram = { kind: 'histogram', help, bucketsSeconds, counts: bucketsSeconds.map(() => 0), sum: 0, count: 0 };
    this.#histograms.set(name, histogram);
    return (seconds: number) => {
      histogram.sum += seconds;
      histogram.count += 1;
      bucketsSeconds.forEach((bound, index) => {
        if (seconds <= bound) histogram.counts[index]! += 1;
      });
    };
  }

  gauge(name: string, help: string, collect: Collector): void {
    this.#gauges.set(name, { help, collect });
  }

  /** The exposition text (Prometheus 0.0.4). */
  async render(): Promise<string> {
    const lines: string[] = [];
    for (const [name, counter] of this.#counters) {
      lines.push(`# HELP ${name} ${counter.help}`, `# TYPE ${name} counter`);
      if (counter.values.size === 0) lines.push(`${name} 0`);
      for (const { labels, value } of counter.values.values()) lines.push(`${name}${labelText(labels)} ${value}`);
    }
    for (const [name, histogram] of this.#histograms) {
      lines.push(`# HELP ${name} ${histogram.help}`, `# TYPE ${name} histogram`);
      histogram.bucketsSeconds.forEach((bound, index) => lines.push(`${name}_bucket{le="${bound}"} ${histogram.counts[index]}`));
      lines.push(`${name}_bucket{le="+Inf"} ${histogram.count}`, `${name}_sum ${histogram.sum}`, `${name}_count ${histogram.count}`);
    }
    for (const [name, gauge] of this.#gauges) {
      lines.push(`# HELP ${name} ${gauge.help}`, `# TYPE ${name} gauge`);
      for (const { labels, value } of await gauge.collect()) lines.push(`${name}${labelText(labels)} ${value}`);
    }
    return `${lines.join('\n')}\n`;
  }

  /** Forget start-up (module loading, migrations): stalls then delay nobody's login. */
  resetEventLoopDelay(): void {
    this.#loopDelay.reset();
    this.#recentLoopDelay.reset();
  }

  close(): void {
    this.#loopDelay.disable();
    this.#recentLoopDelay.disable();
  }
}

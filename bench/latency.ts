/** Latency samples of one measurement, summarised as percentiles over every sample (no sampling, no histogram buckets). */
export class LatencyRecorder {
  readonly #samplesMs: number[] = [];

  add(latencyMs: number): void {
    this.#samplesMs.push(latencyMs);
  }

  get count(): number {
    return this.#samplesMs.length;
  }

  summary(): LatencySummary | undefined {
    if (this.#samplesMs.length === 0) return undefined;
    const sorted = Float64Array.from(this.#samplesMs).sort();
    const at = (quantile: number): number => sorted[Math.min(sorted.length - 1, Math.ceil(quantile * sorted.length) - 1)]!;
    return { count: sorted.length, p50Ms: round(at(0.5)), p99Ms: round(at(0.99)), maxMs: round(sorted[sorted.length - 1]!) };
  }
}

export interface LatencySummary {
  count: number;
  p50Ms: number;
  p99Ms: number;
  maxMs: number;
}

export function round(value: number, digits = 2): number {
  const factor = 10 ** digits;
  return Math.round(value * factor) / factor;
}

/** Wall-clock milliseconds with sub-millisecond resolution, comparable across processes on one machine. */
export function wallClockMs(): number {
  return performance.timeOrigin + performance.now();
}

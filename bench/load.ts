import { LatencyRecorder, round } from './latency.js';

/** What one operation of a closed loop reports: done (ok or failed), or `exhausted` when its input pool ran dry. */
export type OpOutcome = 'ok' | 'error' | 'exhausted';

export interface LoopResult {
  concurrency: number;
  elapsedSeconds: number;
  completed: number;
  errors: number;
  perSecond: number;
  latency: LatencyRecorder;
  /** Why the level ended: its time ran out, or the pre-made inputs did. */
  endedBy: 'time' | 'pool';
}

/**
 * Closed-loop load: `concurrency` workers each run `op` back to back until `durationMs` has passed (or
 * the op reports its pool exhausted). Only successful ops count towards throughput and latency;
 * failures are counted apart so a fast error path can never pass for speed.
 */
export async function closedLoop(concurrency: number, durationMs: number, op: (worker: number) => Promise<OpOutcome>): Promise<LoopResult> {
  const latency = new LatencyRecorder();
  let completed = 0;
  let errors = 0;
  let endedBy: LoopResult['endedBy'] = 'time';
  const startMs = performance.now();
  const deadlineMs = startMs + durationMs;
  await Promise.all(
    Array.from({ length: concurrency }, async (_, worker) => {
      while (performance.now() < deadlineMs) {
        const opStartMs = performance.now();
        let outcome: OpOutcome;
        try {
          outcome = await op(worker);
        } catch {
          outcome = 'error';
        }
        if (outcome === 'exhausted') {
          endedBy = 'pool';
          return;
        }
        if (outcome === 'ok') {
          completed += 1;
          latency.add(performance.now() - opStartMs);
        } else {
          errors += 1;
        }
      }
    }),
  );
  const elapsedSeconds = (performance.now() - startMs) / 1000;
  return { concurrency, elapsedSeconds: round(elapsedSeconds, 3), completed, errors, perSecond: round(completed / elapsedSeconds, 1), latency, endedBy };
}

/**
 * Open-loop load at a fixed arrival rate: request i is due at start + i/rate whether or not earlier ones
 * have answered. Latency is measured from the due time, so a stalled server (or driver) cannot hide its
 * queueing delay by slowing the arrivals (no coordinated omission).
 */
export async function openLoop(ratePerSecond: number, durationMs: number, op: (index: number) => Promise<OpOutcome>): Promise<LoopResult> {
  const latency = new LatencyRecorder();
  const total = Math.max(1, Math.floor((ratePerSecond * durationMs) / 1000));
  const intervalMs = 1000 / ratePerSecond;
  let completed = 0;
  let errors = 0;
  const startMs = performance.now();
  const inFlight: Array<Promise<void>> = [];
  for (let index = 0; index < total; index += 1) {
    const dueMs = startMs + index * intervalMs;
    const waitMs = dueMs - performance.now();
    if (waitMs > 1) await new Promise((resolve) => setTimeout(resolve, waitMs));
    inFlight.push(
      op(index).then(
        (outcome) => {
          if (outcome === 'ok') {
            completed += 1;
            latency.add(performance.now() - dueMs);
          } else errors += 1;
        },
        () => {
          errors += 1;
        },
      ),
    );
  }
  await Promise.all(inFlight);
  const elapsedSeconds = (performance.now() - startMs) / 1000;
  return { concurrency: 0, elapsedSeconds: round(elapsedSeconds, 3), completed, errors, perSecond: round(completed / elapsedSeconds, 1), latency, endedBy: 'time' };
}

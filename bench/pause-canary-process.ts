import { wallClockMs } from './latency.js';
import { CANARY_PERIOD_MS, CANARY_REPORT_MS } from './pause-canary.js';

/**
 * The Node.js pause canary, where the C one (pause-canary.c) cannot be built: a timer every
 * CANARY_PERIOD_MS and nothing else. Pinned to one core at a realtime priority (pause-canary.ts), no
 * process of the guest can hold it up, so a late timer means its vCPU was not running: the hypervisor took
 * the core. Each pause of at least CANARY_REPORT_MS goes to the parent over IPC as { startMs, endMs,
 * durationMs }: the timer's runs before and after, in wall-clock ms (wallClockMs, comparable across
 * processes), and the interval less the period.
 */
let last = performance.now();
setInterval(() => {
  const now = performance.now();
  const pauseMs = now - last - CANARY_PERIOD_MS;
  if (pauseMs >= CANARY_REPORT_MS) {
    const endMs = wallClockMs();
    process.send!({ startMs: endMs - (now - last), endMs, durationMs: pauseMs });
  }
  last = now;
}, CANARY_PERIOD_MS);
process.send!({ ready: true });
process.on('disconnect', () => process.exit(0));

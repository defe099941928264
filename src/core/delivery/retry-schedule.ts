import type { RandomSource } from '../ports.js';

export const RETRY_BASE_MILLISECONDS = 2_000;
export const RETRY_CAP_MILLISECONDS = 60_000;

/**
 * When to try a deferred mail again: exponential backoff (2 s, 4 s, 8 s, ... capped at 60 s) with
 * "equal jitter" (half fixed, half random), so nodes retrying after one SMTP outage do not stampede
 * the server together when it comes back.
 */
export function nextAttemptDelayMilliseconds(attempts: number, random: RandomSource): number {
  const exponent = Math.min(Math.max(attempts - 1, 0), 16);
  const ceiling = Math.min(RETRY_CAP_MILLISECONDS, RETRY_BASE_MILLISECONDS * 2 ** exponent);
  const bytes = new Uint8Array(4);
  random.read(bytes);
  const fraction = new DataView(bytes.buffer).getUint32(0) / 2 ** 32;
  return Math.round(ceiling / 2 + (ceiling / 2) * fraction);
}

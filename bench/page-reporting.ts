import type { PageReporting } from '../src/system/page-reporting.js';

// The benchmark reports it with every run; the server reads it too, at start (src/main.ts).
export { readPageReporting, type PageReporting } from '../src/system/page-reporting.js';

/** MiB reported between two readings, when the kernel counts them. */
export function reportedMiBBetween(before: PageReporting, after: PageReporting): number | undefined {
  if (before.reportedKiB === undefined || after.reportedKiB === undefined) return undefined;
  return Math.round((after.reportedKiB - before.reportedKiB) / 1024);
}

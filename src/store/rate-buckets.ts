import type { BucketRequest } from '../core/ports.js';
import { prepareQuery, rowsOf } from './prepared-query.js';

/**
 * What the rate_bucket table's two writers share: the rate-limit repository (src/store/rate-limit-repository.ts)
 * and the one-statement trigger on PostgreSQL (src/store/queue-statement.ts), which also charges buckets.
 */

export { ALLOWED, verdict } from '../core/limits/bucket.js';

/** The buckets asked for, each key once: a key named twice (two tokens mailing one address) pays once per mail. */
export function mergeBuckets(buckets: readonly BucketRequest[]): Array<{ key: string; capacity: number; rate: number; needed: number }> {
  const wanted = new Map<string, { key: string; capacity: number; rate: number; needed: number }>();
  for (const { key, capacity, windowMilliseconds } of buckets) {
    const seen = wanted.get(key);
    if (seen) seen.needed += 1;
    else wanted.set(key, { key, capacity, rate: capacity / windowMilliseconds, needed: 1 });
  }
  return [...wanted.values()].sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
}

type BucketValues = [key: string, units: number, updatedAt: number];

/** [key, units, updated_at, key, units, ...] as rows. */
export function bucketRows(flat: ReadonlyArray<string | number>): Array<{ key: string; units: number; updated_at: number }> {
  return rowsOf<BucketValues>(flat, 3).map(([key, units, updatedAt]) => ({ key, units, updated_at: updatedAt }));
}

/** Creates missing buckets full (one statement per number of buckets). */
export const createBuckets = prepareQuery((db, ...rows: Array<string | number>) =>
  db.insertInto('rate_bucket').values(bucketRows(rows)).onConflict((oc) => oc.column('key').doNothing()));

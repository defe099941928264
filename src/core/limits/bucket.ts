import type { BucketVerdict } from '../ports.js';

/**
 * Token-bucket arithmetic shared by the store (which keeps the buckets) and the core (which may judge a
 * bucket it read earlier in the same request). A bucket holds `units` at `updatedAt` and refills evenly
 * at `ratePerMillisecond` up to its capacity; a bucket never stored counts as full.
 */

export const ALLOWED: BucketVerdict = Object.freeze({ isAllowed: true, retryAfterSeconds: 0 });

/** A bucket as stored. */
export interface StoredBucket {
  units: number;
  updatedAt: number;
}

export function refilled(units: number, updatedAt: number, capacity: number, ratePerMillisecond: number, now: number): number {
  return Math.min(capacity, units + Math.max(0, now - updatedAt) * ratePerMillisecond);
}

export function verdict(available: number, ratePerMillisecond: number, needed = 1): BucketVerdict {
  if (available >= needed) return ALLOWED;
  return { isAllowed: false, retryAfterSeconds: Math.max(1, Math.ceil((needed - available) / ratePerMillisecond / 1000)) };
}

/** Whether a bucket (undefined: none stored, so full) holds a unit at `now`, without taking it. */
export function hasUnitAt(stored: StoredBucket | undefined, capacity: number, windowMilliseconds: number, now: number): BucketVerdict {
  const rate = capacity / windowMilliseconds;
  return verdict(stored ? refilled(stored.units, stored.updatedAt, capacity, rate, now) : capacity, rate);
}

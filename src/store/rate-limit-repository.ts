import { sql, type Kysely } from 'kysely';
import type { BucketRequest, BucketVerdict, RateLimitRepository } from '../core/ports.js';
import { inTransaction } from './in-transaction.js';
import { prepareQuery, rowsOf } from './prepared-query.js';
import type { Database, DialectName } from './schema.js';

export const ALLOWED = Object.freeze({ isAllowed: true, retryAfterSeconds: 0 });

function refilled(units: number, updatedAt: number, capacity: number, ratePerMillisecond: number, now: number): number {
  return Math.min(capacity, units + Math.max(0, now - updatedAt) * ratePerMillisecond);
}

/** The verdict on a stored bucket (or a missing one, which is full), refilled to `now`. */
function verdictOn(current: { units: number; updated_at: number } | undefined, capacity: number, rate: number, now: number): BucketVerdict {
  return verdict(current ? refilled(current.units, Number(current.updated_at), capacity, rate, now) : capacity, rate);
}

export function verdict(available: number, ratePerMillisecond: number, needed = 1): BucketVerdict {
  if (available >= needed) return ALLOWED;
  return { isAllowed: false, retryAfterSeconds: Math.max(1, Math.ceil((needed - available) / ratePerMillisecond / 1000)) };
}

/** Looked at by every /validate/check, for its client's failures (prepared: see prepared-query.ts). */
const bucketByKey = prepareQuery((db, key: string) => db.selectFrom('rate_bucket').select(['units', 'updated_at']).where('key', '=', key));

/**
 * Takes one unit if the refilled bucket holds one, creating it (full, less that unit) if it does not
 * exist; returns the row only when a unit was taken. One statement, so every failed login pays one round
 * trip for its throttle, not an insert and then an update.
 */
const takeUnit = prepareQuery((db, key: string, capacity: number, rate: number, now: number) => {
  const elapsed = sql<number>`(case when ${sql.val(now)} > rate_bucket.updated_at then ${sql.val(now)} - rate_bucket.updated_at else 0 end)`;
  const available = sql<number>`(case when rate_bucket.units + ${elapsed} * cast(${sql.val(rate)} as double precision) > ${sql.val(capacity)}
    then cast(${sql.val(capacity)} as double precision)
    else rate_bucket.units + ${elapsed} * cast(${sql.val(rate)} as double precision) end)`;
  return db
    .insertInto('rate_bucket')
    .values({ key, units: sql<number>`cast(${sql.val(capacity)} as double precision) - 1`, updated_at: now })
    .onConflict((oc) =>
      oc
        .column('key')
        // Never move the refill clock backwards: a node whose clock lags must not hand others extra refill.
        .doUpdateSet({
          units: sql<number>`${available} - 1`,
          updated_at: sql<number>`(case when rate_bucket.updated_at > ${sql.val(now)} then rate_bucket.updated_at else ${sql.val(now)} end)`,
        })
        .where(sql<boolean>`${available} >= 1`))
    .returning('units');
});

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
function bucketRows(flat: ReadonlyArray<string | number>): Array<{ key: string; units: number; updated_at: number }> {
  return rowsOf<BucketValues>(flat, 3).map(([key, units, updatedAt]) => ({ key, units, updated_at: updatedAt }));
}

/** Creates missing buckets full (one statement per number of buckets). */
export const createBuckets = prepareQuery((db, ...rows: Array<string | number>) =>
  db.insertInto('rate_bucket').values(bucketRows(rows)).onConflict((oc) => oc.column('key').doNothing()));
const selectBuckets = (db: Kysely<Database>, keys: readonly string[]) =>
  db.selectFrom('rate_bucket').select(['key', 'units', 'updated_at']).where('key', 'in', keys).orderBy('key');
const bucketsByKeys = prepareQuery((db, ...keys: string[]) => selectBuckets(db, keys));
const lockBucketsByKeys = prepareQuery((db, ...keys: string[]) => selectBuckets(db, keys).forUpdate());
const writeBuckets = prepareQuery((db, ...rows: Array<string | number>) =>
  db.insertInto('rate_bucket').values(bucketRows(rows)).onConflict((oc) => oc.column('key').doUpdateSet((eb) => ({ units: eb.ref('excluded.units'), updated_at: eb.ref('excluded.updated_at') }))));

/**
 * Token buckets in one table. Taking a unit is a single UPDATE whose WHERE clause does the refill
 * arithmetic, so concurrent requests on any number of nodes cannot take more than the bucket holds.
 */
export function createRateLimitRepository(db: Kysely<Database>, dialect: DialectName): RateLimitRepository {
  return {
    async take(key, capacity, windowMilliseconds, now) {
      const rate = capacity / windowMilliseconds;
      if ((await takeUnit(db, key, capacity, rate, now)).rows.length > 0) return ALLOWED;
      return verdictOn((await bucketByKey(db, key)).rows[0], capacity, rate, now);
    },

    async hasUnit(key, capacity, windowMilliseconds, now) {
      const rate = capacity / windowMilliseconds;
      return verdictOn((await bucketByKey(db, key)).rows[0], capacity, rate, now);
    },

    /**
     * A few statements in one transaction, whatever the number of buckets: read them all, and write them
     * all back in one upsert when every one can pay. On PostgreSQL the missing ones are created full first
     * and all are read locked, in key order, so two requests over overlapping buckets cannot deadlock. On
     * SQLite a missing bucket is read as full: the transaction is the only writer from its read to its
     * write (one connection; another process's write in between fails the commit, SQLITE_BUSY_SNAPSHOT).
     */
    async takeAll(buckets, now) {
      if (buckets.length === 0) return ALLOWED;
      const wanted = new Map(mergeBuckets(buckets).map((bucket) => [bucket.key, bucket]));
      const keys = [...wanted.keys()];
      return inTransaction(db, async (trx) => {
        if (dialect === 'postgres') await createBuckets(trx, ...keys.flatMap((key) => [key, wanted.get(key)!.capacity, now]));
        const { rows: stored } = await (dialect === 'postgres' ? lockBucketsByKeys : bucketsByKeys)(trx, ...keys);
        const found = new Map(stored.map((row) => [row.key, row]));
        const rows = keys.map((key) => found.get(key) ?? { key, units: wanted.get(key)!.capacity, updated_at: now });
        const updates: Array<string | number> = [];
        let retryAfterSeconds = 0;
        for (const row of rows) {
          const { capacity, rate, needed } = wanted.get(row.key)!;
          const updatedAt = Number(row.updated_at);
          const available = refilled(row.units, updatedAt, capacity, rate, now);
          const answer = verdict(available, rate, needed);
          if (!answer.isAllowed) retryAfterSeconds = Math.max(retryAfterSeconds, answer.retryAfterSeconds);
          // Never move the refill clock backwards: a node whose clock lags must not hand others extra refill.
          updates.push(row.key, available - needed, Math.max(updatedAt, now));
        }
        if (retryAfterSeconds > 0) return { isAllowed: false, retryAfterSeconds };
        await writeBuckets(trx, ...updates);
        return ALLOWED;
      });
    },

    async deleteIdle(beforeMilliseconds: number): Promise<number> {
      const result = await db.deleteFrom('rate_bucket').where('updated_at', '<', beforeMilliseconds).executeTakeFirst();
      return Number(result.numDeletedRows);
    },
  };
}

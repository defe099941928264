import { sql, type Kysely } from 'kysely';
import type { BucketVerdict, RateLimitRepository } from '../core/ports.js';
import { inTransaction } from './in-transaction.js';
import { prepareQuery } from './prepared-query.js';
import { queueInOneStatement } from './queue-statement.js';
import { hasUnitAt, refilled, type StoredBucket } from '../core/limits/bucket.js';
import { ALLOWED, bucketRows, mergeBuckets, verdict } from './rate-buckets.js';
import type { Database, DialectName } from './schema.js';

/** A bucket row as the core's StoredBucket (PostgreSQL returns bigint columns as numbers already, SQLite too). */
export function storedBucket(row: { units: number; updated_at: number } | undefined): StoredBucket | undefined {
  return row && { units: Number(row.units), updatedAt: Number(row.updated_at) };
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

const bucketsByKeys = prepareQuery((db, ...keys: string[]) =>
  db.selectFrom('rate_bucket').select(['key', 'units', 'updated_at']).where('key', 'in', keys).orderBy('key'));
const writeBuckets = prepareQuery((db, ...rows: Array<string | number>) =>
  db.insertInto('rate_bucket').values(bucketRows(rows)).onConflict((oc) => oc.column('key').doUpdateSet((eb) => ({ units: eb.ref('excluded.units'), updated_at: eb.ref('excluded.updated_at') }))));

/**
 * Token buckets in one table. Taking a unit is a single upsert whose WHERE clause does the refill
 * arithmetic, so concurrent requests on any number of nodes cannot take more than the bucket holds.
 */
export function createRateLimitRepository(db: Kysely<Database>, dialect: DialectName): RateLimitRepository {
  return {
    async take(key, capacity, windowMilliseconds, now) {
      const rate = capacity / windowMilliseconds;
      if ((await takeUnit(db, key, capacity, rate, now)).rows.length > 0) return ALLOWED;
      return hasUnitAt(storedBucket((await bucketByKey(db, key)).rows[0]), capacity, windowMilliseconds, now);
    },

    async hasUnit(key, capacity, windowMilliseconds, now) {
      return hasUnitAt(storedBucket((await bucketByKey(db, key)).rows[0]), capacity, windowMilliseconds, now);
    },

    /**
     * PostgreSQL: the trigger's one statement with no challenge to queue (queue-statement.ts), so every
     * bucket is locked in key order and charged only when all of them can pay. SQLite: a read and one
     * upsert in a transaction, a missing bucket read as full: the transaction is the only writer from its
     * read to its write (it begins IMMEDIATE, holding the write lock before it reads: sqlite-dialect.ts).
     */
    async takeAll(buckets, now) {
      if (buckets.length === 0) return ALLOWED;
      if (dialect === 'postgres') return queueInOneStatement(db, { buckets, challenges: [], mails: [] }, now);
      const wanted = new Map(mergeBuckets(buckets).map((bucket) => [bucket.key, bucket]));
      const keys = [...wanted.keys()];
      return inTransaction(db, async (trx) => {
        const { rows: stored } = await bucketsByKeys(trx, ...keys);
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

import { sql, type Kysely } from 'kysely';
import type { RateLimitRepository } from '../core/ports.js';
import { inTransaction } from './in-transaction.js';
import { prepareQuery } from './prepared-query.js';
import type { Database, DialectName } from './schema.js';

const ALLOWED = Object.freeze({ isAllowed: true, retryAfterSeconds: 0 });

function refilled(units: number, updatedAt: number, capacity: number, ratePerMillisecond: number, now: number): number {
  return Math.min(capacity, units + Math.max(0, now - updatedAt) * ratePerMillisecond);
}

function verdict(available: number, ratePerMillisecond: number, needed = 1): { isAllowed: boolean; retryAfterSeconds: number } {
  if (available >= needed) return ALLOWED;
  return { isAllowed: false, retryAfterSeconds: Math.max(1, Math.ceil((needed - available) / ratePerMillisecond / 1000)) };
}

/** Looked at by every /validate/check, for its client's failures (prepared: see prepared-query.ts). */
const bucketByKey = prepareQuery((db, key: string) => db.selectFrom('rate_bucket').select(['units', 'updated_at']).where('key', '=', key));

/**
 * Token buckets in one table. Taking a unit is a single UPDATE whose WHERE clause does the refill
 * arithmetic, so concurrent requests on any number of nodes cannot take more than the bucket holds.
 */
export function createRateLimitRepository(db: Kysely<Database>, dialect: DialectName): RateLimitRepository {
  return {
    async take(key, capacity, windowMilliseconds, now) {
      const rate = capacity / windowMilliseconds;
      await db.insertInto('rate_bucket').values({ key, units: capacity, updated_at: now }).onConflict((oc) => oc.column('key').doNothing()).execute();
      const elapsed = sql<number>`(case when ${sql.val(now)} > updated_at then ${sql.val(now)} - updated_at else 0 end)`;
      const available = sql<number>`(case when units + ${elapsed} * cast(${sql.val(rate)} as double precision) > ${sql.val(capacity)}
        then cast(${sql.val(capacity)} as double precision)
        else units + ${elapsed} * cast(${sql.val(rate)} as double precision) end)`;
      const row = await db
        .updateTable('rate_bucket')
        // Never move the refill clock backwards: a node whose clock lags must not hand others extra refill.
        .set({ units: sql<number>`${available} - 1`, updated_at: sql<number>`(case when updated_at > ${sql.val(now)} then updated_at else ${sql.val(now)} end)` })
        .where('key', '=', key)
        .where(sql<boolean>`${available} >= 1`)
        .returning('units')
        .executeTakeFirst();
      if (row) return { isAllowed: true, retryAfterSeconds: 0 };
      const current = await db.selectFrom('rate_bucket').select(['units', 'updated_at']).where('key', '=', key).executeTakeFirst();
      return verdict(current ? refilled(current.units, Number(current.updated_at), capacity, rate, now) : capacity, rate);
    },

    async hasUnit(key, capacity, windowMilliseconds, now) {
      const rate = capacity / windowMilliseconds;
      const current = (await bucketByKey(db, key)).rows[0];
      return verdict(current ? refilled(current.units, Number(current.updated_at), capacity, rate, now) : capacity, rate);
    },

    /**
     * Three statements in one transaction, whatever the number of buckets: create the missing ones full,
     * read them all (locked, on PostgreSQL), and write them all back in one upsert when every one can pay.
     * Rows are created and locked in key order, so two requests over overlapping buckets cannot deadlock.
     */
    async takeAll(buckets, now) {
      if (buckets.length === 0) return ALLOWED;
      // A key named twice (two tokens mailing one address) pays once per mail.
      const wanted = new Map<string, { capacity: number; rate: number; needed: number }>();
      for (const { key, capacity, windowMilliseconds } of buckets) {
        const seen = wanted.get(key);
        if (seen) seen.needed += 1;
        else wanted.set(key, { capacity, rate: capacity / windowMilliseconds, needed: 1 });
      }
      const keys = [...wanted.keys()].sort();
      return inTransaction(db, async (trx) => {
        await trx
          .insertInto('rate_bucket')
          .values(keys.map((key) => ({ key, units: wanted.get(key)!.capacity, updated_at: now })))
          .onConflict((oc) => oc.column('key').doNothing())
          .execute();
        const query = trx.selectFrom('rate_bucket').select(['key', 'units', 'updated_at']).where('key', 'in', keys).orderBy('key');
        const rows = await (dialect === 'postgres' ? query.forUpdate() : query).execute();
        const updates: Array<{ key: string; units: number; updated_at: number }> = [];
        let retryAfterSeconds = 0;
        for (const row of rows) {
          const { capacity, rate, needed } = wanted.get(row.key)!;
          const updatedAt = Number(row.updated_at);
          const available = refilled(row.units, updatedAt, capacity, rate, now);
          const answer = verdict(available, rate, needed);
          if (!answer.isAllowed) retryAfterSeconds = Math.max(retryAfterSeconds, answer.retryAfterSeconds);
          // Never move the refill clock backwards: a node whose clock lags must not hand others extra refill.
          updates.push({ key: row.key, units: available - needed, updated_at: Math.max(updatedAt, now) });
        }
        if (retryAfterSeconds > 0) return { isAllowed: false, retryAfterSeconds };
        await trx
          .insertInto('rate_bucket')
          .values(updates)
          .onConflict((oc) => oc.column('key').doUpdateSet((eb) => ({ units: eb.ref('excluded.units'), updated_at: eb.ref('excluded.updated_at') })))
          .execute();
        return ALLOWED;
      });
    },

    async deleteIdle(beforeMilliseconds: number): Promise<number> {
      const result = await db.deleteFrom('rate_bucket').where('updated_at', '<', beforeMilliseconds).executeTakeFirst();
      return Number(result.numDeletedRows);
    },
  };
}

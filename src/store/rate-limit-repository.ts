import { sql, type Kysely } from 'kysely';
import type { RateLimitRepository } from '../core/ports.js';
import type { Database } from './schema.js';

function refilled(units: number, updatedAt: number, capacity: number, ratePerMillisecond: number, now: number): number {
  return Math.min(capacity, units + Math.max(0, now - updatedAt) * ratePerMillisecond);
}

function verdict(available: number, ratePerMillisecond: number): { isAllowed: boolean; retryAfterSeconds: number } {
  if (available >= 1) return { isAllowed: true, retryAfterSeconds: 0 };
  return { isAllowed: false, retryAfterSeconds: Math.max(1, Math.ceil((1 - available) / ratePerMillisecond / 1000)) };
}

/**
 * Token buckets in one table. Taking a unit is a single UPDATE whose WHERE clause does the refill
 * arithmetic, so concurrent requests on any number of nodes cannot take more than the bucket holds.
 */
export function createRateLimitRepository(db: Kysely<Database>): RateLimitRepository {
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
      const current = await db.selectFrom('rate_bucket').select(['units', 'updated_at']).where('key', '=', key).executeTakeFirst();
      return verdict(current ? refilled(current.units, Number(current.updated_at), capacity, rate, now) : capacity, rate);
    },

    async deleteIdle(beforeMilliseconds: number): Promise<number> {
      const result = await db.deleteFrom('rate_bucket').where('updated_at', '<', beforeMilliseconds).executeTakeFirst();
      return Number(result.numDeletedRows);
    },
  };
}

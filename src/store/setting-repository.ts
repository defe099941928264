import type { Kysely } from 'kysely';
import type { SettingRepository } from '../core/ports.js';
import type { Database } from './schema.js';

export function createSettingRepository(db: Kysely<Database>): SettingRepository {
  return {
    async getAll(): Promise<ReadonlyMap<string, string>> {
      const rows = await db.selectFrom('setting').select(['key', 'value']).execute();
      return new Map(rows.map((row) => [row.key, row.value]));
    },

    async setMany(entries: ReadonlyMap<string, string>, nowMilliseconds: number): Promise<void> {
      const rows = [...entries].map(([key, value]) => ({ key, value, updated_at: nowMilliseconds }));
      if (rows.length === 0) return;
      await db
        .insertInto('setting')
        .values(rows)
        .onConflict((oc) => oc.column('key').doUpdateSet((eb) => ({ value: eb.ref('excluded.value'), updated_at: eb.ref('excluded.updated_at') })))
        .execute();
    },

    async delete(key: string): Promise<boolean> {
      const result = await db.deleteFrom('setting').where('key', '=', key).executeTakeFirst();
      return Number(result.numDeletedRows) > 0;
    },
  };
}

import type { Kysely } from 'kysely';
import type { RealmRepository } from '../core/ports.js';
import type { Realm, Resolver } from '../core/users/user.js';
import type { Database } from './schema.js';
import { inTransaction } from './in-transaction.js';

export function createRealmRepository(db: Kysely<Database>): RealmRepository {
  async function resolversOf(name: string): Promise<string[]> {
    const rows = await db.selectFrom('realm_resolver').select('resolver').where('realm', '=', name).orderBy('priority').orderBy('resolver').execute();
    return rows.map((row) => row.resolver);
  }

  return {
    async find(name: string): Promise<Realm | undefined> {
      const row = await db.selectFrom('realm').selectAll().where('name', '=', name).executeTakeFirst();
      return row && { name: row.name, isDefault: row.is_default === 1, resolvers: await resolversOf(row.name) };
    },

    async findDefault(): Promise<Realm | undefined> {
      const row = await db.selectFrom('realm').selectAll().where('is_default', '=', 1).executeTakeFirst();
      return row && { name: row.name, isDefault: true, resolvers: await resolversOf(row.name) };
    },

    async list(): Promise<Realm[]> {
      const rows = await db.selectFrom('realm').selectAll().orderBy('name').execute();
      return Promise.all(rows.map(async (row) => ({ name: row.name, isDefault: row.is_default === 1, resolvers: await resolversOf(row.name) })));
    },

    async upsert(name: string, resolvers: readonly string[], nowMilliseconds: number): Promise<void> {
      await inTransaction(db, async (trx) => {
        const exists = await trx.selectFrom('realm').select('name').where('name', '=', name).executeTakeFirst();
        if (!exists) {
          const hasDefault = await trx.selectFrom('realm').select('name').where('is_default', '=', 1).executeTakeFirst();
          await trx.insertInto('realm').values({ name, is_default: hasDefault ? 0 : 1, created_at: nowMilliseconds }).execute();
        }
        await trx.deleteFrom('realm_resolver').where('realm', '=', name).execute();
        if (resolvers.length > 0) {
          await trx.insertInto('realm_resolver').values(resolvers.map((resolver, priority) => ({ realm: name, resolver, priority }))).execute();
        }
      });
    },

    async setDefault(name: string): Promise<void> {
      await inTransaction(db, async (trx) => {
        await trx.updateTable('realm').set({ is_default: 0 }).execute();
        await trx.updateTable('realm').set({ is_default: 1 }).where('name', '=', name).execute();
      });
    },

    async delete(name: string): Promise<boolean> {
      const result = await db.deleteFrom('realm').where('name', '=', name).executeTakeFirst();
      return Number(result.numDeletedRows) > 0;
    },

    async listResolvers(): Promise<Resolver[]> {
      const rows = await db.selectFrom('resolver').selectAll().orderBy('name').execute();
      return rows.map((row) => ({ name: row.name, type: 'local' as const }));
    },

    async upsertResolver(resolver: Resolver, nowMilliseconds: number): Promise<void> {
      const exists = await db.selectFrom('resolver').select('name').where('name', '=', resolver.name).executeTakeFirst();
      if (!exists) await db.insertInto('resolver').values({ name: resolver.name, type: resolver.type, created_at: nowMilliseconds }).execute();
    },

    async deleteResolver(name: string): Promise<boolean> {
      const result = await db.deleteFrom('resolver').where('name', '=', name).executeTakeFirst();
      return Number(result.numDeletedRows) > 0;
    },
  };
}

import type { Kysely, Migration } from 'kysely';
import type { Database } from '../schema.js';

/** SPEC C: a fresh database has a default realm "default" with the editable local user store "local". */
export const defaultRealmMigration: Migration = {
  async up(untyped: Kysely<unknown>): Promise<void> {
    const db = untyped as Kysely<Database>;
    const now = Date.now();
    await db.insertInto('resolver').values({ name: 'local', type: 'local', created_at: now }).execute();
    await db.insertInto('realm').values({ name: 'default', is_default: 1, created_at: now }).execute();
    await db.insertInto('realm_resolver').values({ realm: 'default', resolver: 'local', priority: 0 }).execute();
  },
  async down(): Promise<void> {
    throw new Error('mailotp migrations are forward-only');
  },
};

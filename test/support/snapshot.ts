import type { Kysely } from 'kysely';
import type { Database } from '../../src/store/schema.js';

const TABLES = ['admin', 'resolver', 'realm', 'realm_resolver', 'local_user', 'token', 'challenge', 'setting', 'smtp_server', 'audit_event'] as const;

/** Every row of every table, in a stable order: compare two snapshots to prove nothing changed. */
export async function snapshotDatabase(db: Kysely<Database>): Promise<Record<string, unknown[]>> {
  const snapshot: Record<string, unknown[]> = {};
  for (const table of TABLES) {
    const rows = (await db.selectFrom(table).selectAll().execute()) as Record<string, unknown>[];
    snapshot[table] = rows.map((row) => JSON.stringify(row, Object.keys(row).sort())).sort();
  }
  return snapshot;
}

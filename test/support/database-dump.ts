import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { sql } from 'kysely';
import type { TestApp } from './test-app.js';

/** Everything the database holds, as text: the raw SQLite files (with WAL), or every PostgreSQL row. */
export async function everythingStored(t: TestApp): Promise<string> {
  if (t.database.file) {
    const dir = dirname(t.database.file);
    return readdirSync(dir).map((name) => readFileSync(join(dir, name)).toString('latin1')).join('\n');
  }
  const tables = await sql<{ tablename: string }>`select tablename from pg_tables where schemaname = 'public'`.execute(t.composed.database.db);
  const dumps: string[] = [];
  for (const { tablename } of tables.rows) {
    const rows = await sql<{ row: string }>`select row_to_json(t)::text as row from ${sql.table(tablename)} t`.execute(t.composed.database.db);
    dumps.push(...rows.rows.map((row) => row.row));
  }
  return dumps.join('\n');
}

import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';

export type DatabaseKind = 'sqlite' | 'postgres';

/** Which databases the integration suites run on: both by default; MAILOTP_TEST_DATABASES=sqlite narrows. */
export const DATABASES: readonly DatabaseKind[] = (process.env['MAILOTP_TEST_DATABASES'] ?? 'sqlite,postgres')
  .split(',')
  .map((name) => name.trim())
  .filter((name): name is DatabaseKind => name === 'sqlite' || name === 'postgres');

const PG_ADMIN_URL = process.env['MAILOTP_TEST_PG_URL'] ?? 'postgres://postgres@127.0.0.1:5432/postgres';

export interface TestDatabase {
  kind: DatabaseKind;
  url: string;
  /** For SQLite: the database file, so a test can read it raw. */
  file: string | undefined;
  drop(): Promise<void>;
}

/**
 * A fresh, empty database of that kind: a temporary SQLite file, or a uniquely named PostgreSQL
 * database dropped afterwards. An unreachable PostgreSQL fails the suite; it never skips silently.
 */
export async function createTestDatabase(kind: DatabaseKind): Promise<TestDatabase> {
  if (kind === 'sqlite') {
    const dir = mkdtempSync(join(tmpdir(), 'mailotp-test-'));
    const file = join(dir, 'mailotp.db');
    return { kind, url: `sqlite:${file}`, file, drop: async () => rmSync(dir, { recursive: true, force: true }) };
  }
  const name = `mailotp_test_${randomBytes(6).toString('hex')}`;
  const admin = new pg.Client({ connectionString: PG_ADMIN_URL });
  await admin.connect();
  try {
    await admin.query(`CREATE DATABASE ${name}`);
  } finally {
    await admin.end();
  }
  const url = new URL(PG_ADMIN_URL);
  url.pathname = `/${name}`;
  return {
    kind,
    url: url.toString(),
    file: undefined,
    async drop() {
      const client = new pg.Client({ connectionString: PG_ADMIN_URL });
      await client.connect();
      try {
        await client.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
      } finally {
        await client.end();
      }
    },
  };
}

import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import pg from 'pg';
import { composeDeps } from '../../../src/compose.js';
import { loadConfig } from '../../../src/config/load-config.js';
import { createTestDatabase } from '../../support/databases.js';

/** Connections the composed server holds to its database after `parallel` queries at once. */
async function connectionsAfterBurst(poolSize: string | undefined, parallel: number): Promise<number> {
  const database = await createTestDatabase('postgres');
  const dataDir = mkdtempSync(join(tmpdir(), 'mailotp-pool-'));
  try {
    const composed = await composeDeps(loadConfig({
      MAILOTP_DATABASE_URL: database.url,
      MAILOTP_DATA_DIR: dataDir,
      ...(poolSize === undefined ? {} : { MAILOTP_DATABASE_POOL_SIZE: poolSize }),
    }));
    try {
      await Promise.all(Array.from({ length: parallel }, () => composed.deps.store.audit.list(5)));
      const observer = new pg.Client({ connectionString: database.url });
      await observer.connect();
      try {
        const { rows } = await observer.query<{ count: string }>(
          'select count(*) from pg_stat_activity where datname = current_database() and pid <> pg_backend_pid()',
        );
        return Number(rows[0]!.count);
      } finally {
        await observer.end();
      }
    } finally {
      await composed.close();
    }
  } finally {
    rmSync(dataDir, { recursive: true, force: true });
    await database.drop();
  }
}

describe('MAILOTP_DATABASE_POOL_SIZE bounds the PostgreSQL connections of a node', () => {
  it('opens at most that many, however many queries run at once', async () => {
    const held = await connectionsAfterBurst('2', 40);
    assert.ok(held >= 1 && held <= 2, `${held} connections`);
  });

  it('opens more for the same burst with the default of 4, and no more than that', async () => {
    const held = await connectionsAfterBurst(undefined, 40);
    assert.ok(held > 2 && held <= 4, `${held} connections`);
  });
});

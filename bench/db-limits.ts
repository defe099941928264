import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import SQLite from 'better-sqlite3';
import pg from 'pg';
import { createTestDatabase } from '../test/support/databases.js';
import { round } from './latency.js';

/**
 * The SQLite ceiling: one connection, `UPDATE t SET n=n+1 WHERE id=1` in autocommit, with the server's
 * pragmas (WAL, synchronous=NORMAL). SQLite has one writer, so this is what any number of clients shares.
 */
export function sqliteUpdatesPerSecond(durationMs: number): number {
  const dir = mkdtempSync(join(tmpdir(), 'mailotp-bench-sqlite-'));
  try {
    const database = new SQLite(join(dir, 'limit.db'));
    database.pragma('journal_mode = WAL');
    database.pragma('synchronous = NORMAL');
    database.exec('CREATE TABLE t (id INTEGER PRIMARY KEY, n INTEGER NOT NULL)');
    database.prepare('INSERT INTO t (id, n) VALUES (1, 0)').run();
    const update = database.prepare('UPDATE t SET n = n + 1 WHERE id = 1');
    let updates = 0;
    const start = performance.now();
    while (performance.now() - start < durationMs) {
      for (let index = 0; index < 200; index += 1) update.run();
      updates += 200;
    }
    const perSecond = updates / ((performance.now() - start) / 1000);
    database.close();
    return round(perSecond, 0);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/**
 * The PostgreSQL ceiling at each concurrency: a pool as large as the server's (10 connections), each
 * client updating its own single row in autocommit (one commit = one WAL flush, as in the server).
 * Separate rows, because the server's requests touch different tokens: one hot row would measure lock
 * queueing instead.
 */
export async function postgresUpdatesPerSecond(levels: readonly number[], durationMs: number): Promise<Record<number, number>> {
  const database = await createTestDatabase('postgres');
  const pool = new pg.Pool({ connectionString: database.url, max: 10 });
  // pool.end() resolves before every backend has gone; DROP DATABASE ... WITH (FORCE) then terminates the
  // rest, and that FATAL would reach an idle client as an unhandled 'error' event.
  pool.on('error', () => undefined);
  try {
    const maxLevel = Math.max(...levels);
    await pool.query('CREATE TABLE t (id integer PRIMARY KEY, n bigint NOT NULL)');
    await pool.query('INSERT INTO t (id, n) SELECT g, 0 FROM generate_series(0, $1::int) g', [maxLevel]);
    const results: Record<number, number> = {};
    for (const concurrency of levels) {
      let updates = 0;
      const start = performance.now();
      await Promise.all(
        Array.from({ length: concurrency }, async (_, worker) => {
          while (performance.now() - start < durationMs) {
            await pool.query('UPDATE t SET n = n + 1 WHERE id = $1', [worker]);
            updates += 1;
          }
        }),
      );
      results[concurrency] = round(updates / ((performance.now() - start) / 1000), 0);
    }
    return results;
  } finally {
    await pool.end();
    await database.drop();
  }
}

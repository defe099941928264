import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { describe, it } from 'node:test';
import SQLite from 'better-sqlite3';
import { startSqliteCheckpointer } from '../../../src/store/sqlite-checkpointer.js';

/** Polls `condition` until it holds or `timeoutMs` passes (waiting for another thread, not sleeping for effect). */
async function eventually(condition: () => boolean, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (condition()) return true;
    await delay(20);
  }
  return condition();
}

describe('startSqliteCheckpointer', () => {
  it('copies the WAL into the database file from its own thread, with no checkpoint on the main connection', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'mailotp-ckpt-'));
    const path = join(dir, 'test.db');
    const db = new SQLite(path);
    db.pragma('journal_mode = WAL');
    // As the server sets it: the main connection would only checkpoint after 20,000 pages.
    db.pragma('wal_autocheckpoint = 20000');
    db.exec('create table t (id integer primary key, payload text)');
    const insert = db.prepare('insert into t (payload) values (?)');
    db.transaction(() => {
      for (let index = 0; index < 3000; index += 1) insert.run('x'.repeat(1000));
    })();
    const sizeBefore = statSync(path).size;
    assert.ok(statSync(`${path}-wal`).size > 2_000_000, 'the rows sit in the WAL');
    const checkpointer = startSqliteCheckpointer(path, createRequire(import.meta.url).resolve('better-sqlite3'), { intervalMilliseconds: 50 });
    try {
      // Only a checkpoint writes WAL pages into the main file, so its growth proves the worker ran one.
      assert.ok(await eventually(() => statSync(path).size > sizeBefore + 2_000_000, 5000), 'no checkpoint happened');
      assert.equal((db.prepare('select count(*) as n from t').get() as { n: number }).n, 3000);
    } finally {
      await checkpointer.stop();
      db.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

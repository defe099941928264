import assert from 'node:assert/strict';
import { once } from 'node:events';
import { closeSync, mkdtempSync, openSync, readSync, rmSync, statSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { Worker } from 'node:worker_threads';
import SQLite from 'better-sqlite3';
import { Kysely } from 'kysely';
import { openSqlite } from '../../../src/store/open-database.js';
import { startSqliteCheckpointer } from '../../../src/store/sqlite-checkpointer.js';
import { MailotpSqliteDialect } from '../../../src/store/sqlite-dialect.js';

const DRIVER = createRequire(import.meta.url).resolve('better-sqlite3');

interface Row {
  id: number;
  payload: string;
}
type Db = Kysely<{ t: Row }>;

const dirs: string[] = [];
after(() => {
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});

function databaseFile(): string {
  const dir = mkdtempSync(join(tmpdir(), 'mailotp-locks-'));
  dirs.push(dir);
  return join(dir, 'locks.db');
}

/** A main connection set up as openSqlite sets it up (WAL, busy_timeout 0), on the dialect, with table t. */
function mainConnection(path: string, lockWaitMilliseconds?: number): { connection: SQLite.Database; db: Db } {
  const connection = new SQLite(path);
  connection.pragma('journal_mode = WAL');
  connection.pragma('synchronous = NORMAL');
  connection.pragma('busy_timeout = 0');
  // Without the checkpointer the log would grow to this safety net: 20,000 pages (80 MB).
  connection.pragma('wal_autocheckpoint = 20000');
  connection.exec('create table t (id integer primary key, payload text)');
  const dialect = new MailotpSqliteDialect({ database: connection, isInTransaction: () => connection.inTransaction, lockWaitMilliseconds });
  return { connection, db: new Kysely({ dialect }) };
}

/**
 * Another connection on a thread of its own (as the checkpointer, or a second process, would be) takes
 * the write lock, writes a row, says 'locked', keeps the lock for `holdMilliseconds` and commits.
 */
async function holdWriteLock(path: string, holdMilliseconds: number): Promise<{ released: Promise<void> }> {
  const worker = new Worker(
    `const { workerData, parentPort } = require('node:worker_threads');
     const db = new (require(workerData.driver))(workerData.path);
     db.exec('begin immediate');
     db.prepare("insert into t (id, payload) values (100, 'holder')").run();
     parentPort.postMessage('locked');
     Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, workerData.holdMilliseconds);
     db.exec('commit');
     db.close();`,
    { eval: true, workerData: { path, driver: DRIVER, holdMilliseconds } },
  );
  const [message] = await once(worker, 'message');
  assert.equal(message, 'locked');
  return { released: once(worker, 'exit').then(() => undefined) };
}

/** Counts the ticks of a 10 ms interval until stopped: they only happen while the event loop is free. */
function tickCounter(): { stop(): number } {
  let ticks = 0;
  const timer = setInterval(() => (ticks += 1), 10);
  return {
    stop() {
      clearInterval(timer);
      return ticks;
    },
  };
}

describe('SQLite locks and the event loop', () => {
  it('waits for another connection\'s write lock on a timer, keeping the event loop free, and then writes', async () => {
    const path = databaseFile();
    const database = openSqlite(path);
    const db = database.db as unknown as Db;
    try {
      await db.schema.createTable('t').addColumn('id', 'integer', (column) => column.primaryKey()).addColumn('payload', 'text').execute();
      const { released } = await holdWriteLock(path, 400);
      const ticks = tickCounter();
      // One statement on its own and one transaction, both started while the lock is held.
      const [, inTransaction] = await Promise.all([
        db.insertInto('t').values({ id: 1, payload: 'single' }).execute(),
        db.transaction().execute(async (trx) => {
          await trx.insertInto('t').values({ id: 2, payload: 'in a transaction' }).execute();
          return (await trx.selectFrom('t').select('id').orderBy('id').execute()).map((row) => row.id);
        }),
      ]);
      const ticked = ticks.stop();
      await released;
      // Held 400 ms: a free loop ticks about 40 times; SQLite's busy handler asleep on it, at most once.
      assert.ok(ticked >= 5, `the event loop stood still while waiting for the lock (${ticked} ticks)`);
      // The holder's row, committed as it let go: the transaction ran after the lock was free.
      assert.ok(inTransaction.includes(100) && inTransaction.includes(2), `the transaction saw ${inTransaction.join(', ')}`);
      assert.deepEqual((await db.selectFrom('t').select('id').orderBy('id').execute()).map((row) => row.id), [1, 2, 100]);
    } finally {
      await database.close();
    }
  });

  it('gives up after its lock wait with SQLITE_BUSY, having changed nothing', async () => {
    const path = databaseFile();
    const { connection, db } = mainConnection(path, 100);
    try {
      const { released } = await holdWriteLock(path, 1000);
      await assert.rejects(db.insertInto('t').values({ id: 1, payload: 'late' }).execute(), (error: { code?: string }) => error.code === 'SQLITE_BUSY');
      await assert.rejects(db.transaction().execute((trx) => trx.insertInto('t').values({ id: 2, payload: 'late' }).execute()), (error: { code?: string }) => error.code === 'SQLITE_BUSY');
      assert.equal(connection.inTransaction, false, 'a failed begin left a transaction open');
      await released;
      assert.deepEqual((await db.selectFrom('t').select('id').execute()).map((row) => row.id), [100]);
    } finally {
      await db.destroy();
    }
  });

  it('begins every transaction IMMEDIATE: from its first statement no other connection can write', async () => {
    const path = databaseFile();
    const database = openSqlite(path);
    const db = database.db as unknown as Db;
    const other = new SQLite(path);
    other.pragma('busy_timeout = 0');
    try {
      await db.schema.createTable('t').addColumn('id', 'integer', (column) => column.primaryKey()).addColumn('payload', 'text').execute();
      await db.transaction().execute(async (trx) => {
        // Only a read so far: a deferred transaction would hold no write lock yet.
        await trx.selectFrom('t').selectAll().execute();
        assert.throws(() => other.exec('begin immediate'), (error: { code?: string }) => error.code === 'SQLITE_BUSY');
      });
      other.exec('begin immediate');
      other.exec('rollback');
    } finally {
      other.close();
      await database.close();
    }
  });

  it('keeps writes flowing while another connection holds an old snapshot open, as an online backup does', async () => {
    const path = databaseFile();
    const { db } = mainConnection(path);
    const checkpointer = startSqliteCheckpointer(path, DRIVER, { intervalMilliseconds: 20, restartAtPages: 50 });
    // The reader's snapshot keeps every later frame in the log: each RESTART must wait for it, holding
    // the write lock while it waits.
    const reader = new SQLite(path);
    reader.exec('begin');
    reader.prepare('select count(*) from t').get();
    const payload = 'x'.repeat(3000);
    let longestWrite = 0;
    let writes = 0;
    try {
      const until = Date.now() + 1500;
      while (Date.now() < until) {
        const started = performance.now();
        await db.insertInto('t').values({ id: (writes += 1), payload }).execute();
        longestWrite = Math.max(longestWrite, performance.now() - started);
      }
      // With a 1 s wait per RESTART every round, writes stood still about 1 s at a time.
      assert.ok(longestWrite < 250, `a write waited ${Math.round(longestWrite)} ms behind the checkpointer`);
      reader.exec('commit');
      assert.equal((await db.selectFrom('t').select((eb) => eb.fn.countAll<number>().as('n')).executeTakeFirstOrThrow()).n, writes);
    } finally {
      reader.close();
      await checkpointer.stop();
      await db.destroy();
    }
  });

  it('starts the WAL over under continuous writes, from the checkpointer thread', async () => {
    const path = databaseFile();
    const { db } = mainConnection(path);
    const checkpointer = startSqliteCheckpointer(path, DRIVER, { intervalMilliseconds: 20, restartAtPages: 250 });
    const payload = 'x'.repeat(3000);
    const rows = 8000;
    try {
      // Many writers at once, one row per statement and some in transactions, as requests would be, with
      // never a pause: about 20,000 pages of log, so without restarts it reaches the 20,000-page net.
      let next = 0;
      await Promise.all(
        Array.from({ length: 16 }, async () => {
          while (next < rows) {
            const id = (next += 1);
            if (id % 4 === 0) await db.transaction().execute((trx) => trx.insertInto('t').values({ id, payload }).execute());
            else await db.insertInto('t').values({ id, payload }).execute();
          }
        }),
      );
      // The file keeps its longest extent. Writes outrun a 250-page threshold between two 20 ms rounds
      // here (measured: 3,100-4,400 pages with restarts; 20,400 without).
      const walPages = statSync(`${path}-wal`).size / 4096;
      assert.ok(walPages < 10_000, `the log grew to ${Math.round(walPages)} pages: it never started over`);
      assert.equal((await db.selectFrom('t').select((eb) => eb.fn.countAll<number>().as('n')).executeTakeFirstOrThrow()).n, rows);
    } finally {
      await checkpointer.stop();
      await db.destroy();
    }
    const check = new SQLite(path, { readonly: true });
    assert.deepEqual(check.pragma('integrity_check'), [{ integrity_check: 'ok' }]);
    check.close();
  });
  it('starts the log over from the checkpointer thread: a write on the event loop appends, never syncs a new header', async () => {
    const path = databaseFile();
    const { db } = mainConnection(path);
    const checkpointer = startSqliteCheckpointer(path, DRIVER, { intervalMilliseconds: 20 });
    // Bytes 12-23 of the log: the checkpoint sequence and the salts, new each time the log starts over.
    const logHeader = (): string => {
      const file = openSync(`${path}-wal`, 'r');
      try {
        const header = Buffer.alloc(12);
        readSync(file, header, 0, 12, 12);
        return header.toString('hex');
      } finally {
        closeSync(file);
      }
    };
    try {
      for (let id = 1; id <= 5; id += 1) await db.insertInto('t').values({ id, payload: 'before' }).execute();
      const written = logHeader();
      // Nothing writes here now: a new header is the checkpointer thread's doing, once it has copied the log.
      const deadline = performance.now() + 3000;
      while (logHeader() === written && performance.now() < deadline) await sleep(10);
      assert.notEqual(logHeader(), written, 'the checkpointer never started the log over');
      // It writes again while its own first writes fill the log; rounds that find only its marker's
      // frame leave the log as it is. Wait until the header has held for 10 rounds.
      let restarted = logHeader();
      let stableSince = performance.now();
      while (performance.now() - stableSince < 200 && performance.now() < deadline) {
        await sleep(10);
        const header = logHeader();
        if (header !== restarted) [restarted, stableSince] = [header, performance.now()];
      }
      await db.insertInto('t').values({ id: 6, payload: 'after' }).execute();
      assert.equal(logHeader(), restarted, 'a write on the event loop started the log over (and synced its header)');
      assert.equal((await db.selectFrom('t').select((eb) => eb.fn.countAll<number>().as('n')).executeTakeFirstOrThrow()).n, 6);
    } finally {
      await checkpointer.stop();
      await db.destroy();
    }
  });
});

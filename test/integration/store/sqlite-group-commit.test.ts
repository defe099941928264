import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, afterEach, beforeEach, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import SQLite from 'better-sqlite3';
import { Kysely, sql } from 'kysely';
import { MailotpSqliteDialect } from '../../../src/store/sqlite-dialect.js';

interface Tables {
  t: { id: number };
  parent: { id: number };
  child: { id: number; parent_id: number };
}

/** What a statement saw when it ran: whether it ran inside a transaction, and the rows others could see. */
interface Sight {
  isInTransaction: boolean;
  committedRows: number;
}

const dirs: string[] = [];
after(() => {
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});

describe('SQLite group commit: the transactions of one turn commit together', () => {
  let connection: SQLite.Database;
  /** A second connection on the same file: it sees only what has committed. */
  let observer: SQLite.Database;
  let db: Kysely<Tables>;
  const committedRows = (): number => (observer.prepare('select count(*) as n from t').get() as { n: number }).n;

  beforeEach(async () => {
    const dir = mkdtempSync(join(tmpdir(), 'mailotp-group-'));
    dirs.push(dir);
    const path = join(dir, 'group.db');
    // Set up as openSqlite sets up the main connection.
    connection = new SQLite(path);
    connection.pragma('journal_mode = WAL');
    connection.pragma('synchronous = NORMAL');
    connection.pragma('foreign_keys = ON');
    connection.pragma('busy_timeout = 0');
    connection.exec(`create table t (id integer primary key);
      create table parent (id integer primary key);
      create table child (id integer primary key, parent_id integer not null references parent (id) deferrable initially deferred);`);
    // sight() in SQL: what the statement calling it sees, from inside SQLite.
    connection.function('sight', () => JSON.stringify({ isInTransaction: connection.inTransaction, committedRows: committedRows() }));
    observer = new SQLite(path);
    // A budget no test reaches: the first statements of a process run slowly (code not yet compiled), and
    // a turn that ran out of it would put the rest of its transactions in the next group.
    db = new Kysely<Tables>({ dialect: new MailotpSqliteDialect({ database: connection, isInTransaction: () => connection.inTransaction, turnBudgetMilliseconds: 10_000 }) });
    // The driver is set up by its first statement; the tests below queue theirs in one turn.
    await db.selectFrom('t').selectAll().execute();
  });

  afterEach(async () => {
    observer.close();
    await db.destroy();
  });

  const sight = async (on: Kysely<Tables>): Promise<Sight> => JSON.parse((await sql<{ s: string }>`select sight() as s`.execute(on)).rows[0]!.s) as Sight;

  it('keeps every write of the turn from other connections until the last of them ran, and settles none before', async () => {
    const insideEach: Sight[] = [];
    const whenSettled: number[] = [];
    await Promise.all(Array.from({ length: 8 }, (_, index) =>
      db.transaction().execute(async (trx) => {
        await trx.insertInto('t').values({ id: index + 1 }).execute();
        insideEach.push(await sight(trx));
      }).then(() => whenSettled.push(committedRows()))));
    // One COMMIT at the end of the turn: each transaction alone would have let the next see the rows before.
    assert.deepEqual(insideEach.map((seen) => seen.committedRows), [0, 0, 0, 0, 0, 0, 0, 0]);
    assert.deepEqual(whenSettled, [8, 8, 8, 8, 8, 8, 8, 8], 'a transaction settled before its rows were committed');
    assert.equal(connection.inTransaction, false);
  });

  it('commits at most eight transactions together, so their callers go on within the turn', async () => {
    const insideEach: number[] = [];
    await Promise.all(Array.from({ length: 12 }, (_, index) =>
      db.transaction().execute(async (trx) => {
        await trx.insertInto('t').values({ id: index + 1 }).execute();
        insideEach.push((await sight(trx)).committedRows);
      })));
    assert.deepEqual(insideEach, [0, 0, 0, 0, 0, 0, 0, 0, 8, 8, 8, 8]);
    assert.equal(committedRows(), 12);
  });

  it('rolls back only the failing transaction\'s writes, the first of the turn or a later one, and commits the rest', async () => {
    const outcomes = await Promise.allSettled(Array.from({ length: 5 }, (_, index) =>
      db.transaction().execute(async (trx) => {
        await trx.insertInto('t').values({ id: index + 1 }).execute();
        if (index === 0 || index === 2) throw new Error(`transaction ${index} fails`);
      })));
    assert.deepEqual(outcomes.map((outcome) => outcome.status), ['rejected', 'fulfilled', 'rejected', 'fulfilled', 'fulfilled']);
    assert.match(String((outcomes[2] as PromiseRejectedResult).reason), /transaction 2 fails/);
    assert.deepEqual(observer.prepare('select id from t order by id').pluck().all(), [2, 4, 5]);
    assert.equal(connection.inTransaction, false);
  });

  it('runs a statement outside any transaction on committed data only: the turn\'s transactions before it commit first', async () => {
    const first = db.transaction().execute((trx) => trx.insertInto('t').values({ id: 1 }).execute());
    const between = sight(db);
    const last = db.transaction().execute(async (trx) => {
      await trx.insertInto('t').values({ id: 2 }).execute();
      return sight(trx);
    });
    const [, seenBetween, seenByLast] = await Promise.all([first, between, last]);
    assert.deepEqual(seenBetween, { isInTransaction: false, committedRows: 1 });
    assert.deepEqual(seenByLast, { isInTransaction: true, committedRows: 1 });
    assert.equal(committedRows(), 2);
  });

  it('fails every transaction of the group, keeping none of their writes, when its COMMIT fails', async () => {
    // A deferred foreign key is checked at COMMIT: the middle transaction's child row has no parent.
    const outcomes = await Promise.allSettled([
      db.transaction().execute((trx) => trx.insertInto('parent').values({ id: 1 }).execute()),
      db.transaction().execute((trx) => trx.insertInto('child').values({ id: 1, parent_id: 99 }).execute()),
      db.transaction().execute((trx) => trx.insertInto('t').values({ id: 1 }).execute()),
    ]);
    assert.deepEqual(outcomes.map((outcome) => outcome.status), ['rejected', 'rejected', 'rejected']);
    for (const outcome of outcomes) assert.equal(((outcome as PromiseRejectedResult).reason as { code?: string }).code, 'SQLITE_CONSTRAINT_FOREIGNKEY');
    assert.equal(connection.inTransaction, false, 'the failed group was left open');
    assert.deepEqual([committedRows(), observer.prepare('select count(*) from parent').pluck().get()], [0, 0]);
    // The next turn starts a group of its own.
    await db.transaction().execute((trx) => trx.insertInto('parent').values({ id: 2 }).execute());
    assert.deepEqual(observer.prepare('select id from parent').pluck().all(), [2]);
  });

  it('keeps a transaction that waits on something else whole: the others wait for it, and all commit', async () => {
    const order: string[] = [];
    await Promise.all([
      db.transaction().execute(async (trx) => {
        await trx.insertInto('t').values({ id: 1 }).execute();
        await sleep(20); // several turns of the event loop
        order.push('slow');
        await trx.insertInto('t').values({ id: 2 }).execute();
      }),
      db.transaction().execute(async (trx) => {
        order.push('quick');
        await trx.insertInto('t').values({ id: 3 }).execute();
      }),
    ]);
    assert.deepEqual(order, ['slow', 'quick']);
    assert.deepEqual(observer.prepare('select id from t order by id').pluck().all(), [1, 2, 3]);
  });
});

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { DatabaseConnection } from 'kysely';
import { countTurns } from '../../test/support/turn-counter.js';
import { SqliteScheduler, type Lease } from './sqlite-scheduler.js';

/** No caller here runs a statement: these tests are about who gets the connection when. */
const NO_CONNECTION = {} as DatabaseConnection;
const NO_TRANSACTIONS = { inTransaction: () => false, run: () => assert.fail('no transaction was begun') };

/** `count` callers ask at once; each one's work moves the fake clock on by `workMilliseconds`. */
async function admissions(budgetMilliseconds: number, workMilliseconds: number, count: number): Promise<number[]> {
  let clock = 0;
  const turns = countTurns();
  const scheduler = new SqliteScheduler(NO_CONNECTION, NO_TRANSACTIONS, budgetMilliseconds, () => clock);
  const admittedIn: number[] = [];
  try {
    await Promise.all(
      Array.from({ length: count }, async (_, index) => {
        const lease = await scheduler.acquire();
        admittedIn[index] = turns.current();
        clock += workMilliseconds;
        scheduler.release(lease as Lease);
      }),
    );
  } finally {
    turns.stop();
  }
  return admittedIn;
}

describe('SQLite scheduler: turns', () => {
  it('lets callers through in order until the turn has used its budget, then puts the rest off a turn', async () => {
    const turns = await admissions(3, 1, 10);
    const first = turns[0]!;
    assert.deepEqual(turns.map((turn) => turn - first), [0, 0, 0, 1, 1, 1, 2, 2, 2, 3]);
  });

  it('still lets one caller through per turn when one caller\'s work alone exceeds the budget', async () => {
    const turns = await admissions(3, 5, 4);
    const first = turns[0]!;
    assert.deepEqual(turns.map((turn) => turn - first), [0, 1, 2, 3]);
  });

  it('never holds anyone back within the budget: cheap callers all go in the first turn', async () => {
    const turns = await admissions(3, 0.01, 50);
    assert.equal(new Set(turns).size, 1);
  });

  it('gives the connection to one caller at a time, and to the next only once the last let go of it', async () => {
    const scheduler = new SqliteScheduler(NO_CONNECTION, NO_TRANSACTIONS, 1000);
    let holders = 0;
    let most = 0;
    await Promise.all(Array.from({ length: 5 }, async () => {
      const lease = await scheduler.acquire();
      most = Math.max(most, (holders += 1));
      await new Promise((resolve) => setTimeout(resolve, 2));
      holders -= 1;
      scheduler.release(lease as Lease);
    }));
    assert.equal(most, 1);
  });
});

/**
 * SQLite failing where a real file will not on demand (a ROLLBACK that fails): a connection and its
 * transaction statements as a script of what SQLite would do, recording what the scheduler ran.
 */
function scriptedSqlite(failing: Set<string>) {
  const ran: string[] = [];
  let isInTransaction = false;
  const connection = {
    executeQuery: async (query: { sql: string }) => {
      ran.push(query.sql);
      if (isInTransaction) throw new Error('cannot start a transaction within a transaction');
      isInTransaction = true;
      return { rows: [] };
    },
  } as unknown as DatabaseConnection;
  const control = {
    inTransaction: () => isInTransaction,
    run(sql: string) {
      ran.push(sql);
      if (failing.delete(sql)) throw Object.assign(new Error(`${sql} failed`), { code: 'SQLITE_IOERR' });
      if (sql === 'commit' || sql === 'rollback') isInTransaction = false;
    },
  };
  return { ran, scheduler: new SqliteScheduler(connection, control, 1000) };
}

/** One transaction through the scheduler as Kysely drives it: begin, commit (rollback if that fails), release. */
async function transaction(scheduler: SqliteScheduler): Promise<void> {
  const lease = (await scheduler.acquire()) as Lease;
  try {
    await scheduler.begin(lease);
    try {
      await scheduler.commit(lease);
    } catch (error) {
      await scheduler.rollback(lease);
      throw error;
    }
  } finally {
    scheduler.release(lease);
  }
}

describe('SQLite scheduler: failures', () => {
  it('fails the whole group when its COMMIT fails, and after a failed ROLLBACK rolls back before the next BEGIN', async () => {
    const { ran, scheduler } = scriptedSqlite(new Set(['commit', 'rollback']));
    const outcomes = await Promise.allSettled([transaction(scheduler), transaction(scheduler)]);
    assert.deepEqual(outcomes.map((outcome) => outcome.status), ['rejected', 'rejected']);
    assert.deepEqual(ran, ['begin immediate', 'savepoint mailotp_group', 'release mailotp_group', 'commit', 'rollback']);
    ran.length = 0;
    await transaction(scheduler);
    assert.deepEqual(ran, ['rollback', 'begin immediate', 'commit']);
  });

  it('keeps none of a transaction whose rollback to its savepoint failed, nor of its group', async () => {
    const { ran, scheduler } = scriptedSqlite(new Set(['release mailotp_group', 'rollback to mailotp_group']));
    const outcomes = await Promise.allSettled([transaction(scheduler), transaction(scheduler)]);
    // The second's RELEASE fails, then its ROLLBACK TO: the group, the first's work included, is rolled back.
    assert.deepEqual(outcomes.map((outcome) => outcome.status), ['rejected', 'rejected']);
    assert.deepEqual(ran, ['begin immediate', 'savepoint mailotp_group', 'release mailotp_group', 'rollback to mailotp_group', 'rollback']);
  });
});

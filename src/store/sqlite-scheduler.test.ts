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

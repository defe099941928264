import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { countTurns } from '../../test/support/turn-counter.js';
import { createTurnBudget } from './next-turn.js';

/** `count` callers ask at once; each one's work moves the fake clock on by `workMilliseconds`. */
async function admissions(budgetMilliseconds: number, workMilliseconds: number, count: number): Promise<number[]> {
  let clock = 0;
  const turns = countTurns();
  const nextTurn = createTurnBudget(budgetMilliseconds, () => clock);
  const admittedIn: number[] = [];
  try {
    await Promise.all(
      Array.from({ length: count }, async (_, index) => {
        await nextTurn();
        admittedIn[index] = turns.current();
        clock += workMilliseconds;
      }),
    );
  } finally {
    turns.stop();
  }
  return admittedIn;
}

describe('turn budget', () => {
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
});

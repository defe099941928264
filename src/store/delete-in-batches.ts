import { nextTurn } from './next-turn.js';

/**
 * Runs `deleteBatch` (which deletes at most `batchSize` rows and says how many) until a batch comes back
 * short, with the event loop free between batches: a cleanup that finds a large backlog (the first after
 * a long stop) must not hold the loop, or the table, for one long statement. Returns the rows deleted.
 */
export async function deleteInBatches(batchSize: number, deleteBatch: (limit: number) => Promise<number>): Promise<number> {
  let deleted = 0;
  for (;;) {
    const count = await deleteBatch(batchSize);
    deleted += count;
    if (count < batchSize) return deleted;
    await nextTurn();
  }
}

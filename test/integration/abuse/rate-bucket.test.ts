import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { RateLimitRepository } from '../../../src/core/ports.js';
import { createRateLimitRepository } from '../../../src/store/rate-limit-repository.js';
import { DATABASES } from '../../support/databases.js';
import { MemoryStore } from '../../support/memory-store.js';
import { startTestApp, type TestApp } from '../../support/test-app.js';

type Step = [verb: 'take' | 'hasUnit', atSeconds: number, expected: { isAllowed: boolean; retryAfterSeconds: number }];

const ALLOW = { isAllowed: true, retryAfterSeconds: 0 };
const refuse = (retryAfterSeconds: number): { isAllowed: boolean; retryAfterSeconds: number } => ({ isAllowed: false, retryAfterSeconds });

/** A bucket of 3 units refilled over 60 s (one unit per 20 s). */
const SCRIPT: Step[] = [
  ['take', 0, ALLOW], ['take', 0, ALLOW], ['take', 0, ALLOW],
  ['take', 0, refuse(20)], ['hasUnit', 0, refuse(20)],
  ['take', 5, refuse(15)], // refusals do not reset the refill
  ['take', 19.5, refuse(1)], // the wait rounds up, and is never 0 while refused
  ['hasUnit', 20, ALLOW], ['take', 20, ALLOW], ['take', 20, refuse(20)],
  ['take', 50, ALLOW], // 1.5 units refilled: one taken, half a unit left
  ['take', 50, refuse(10)], ['take', 60, ALLOW],
  ['take', 10_000, ALLOW], ['take', 10_000, ALLOW], ['take', 10_000, ALLOW], // capped at capacity, however long idle
  ['take', 10_000, refuse(20)],
  ['take', 9_000, refuse(20)], // a clock behind the bucket (another node's) refills nothing
  ['take', 10_020, ALLOW],
];

/** `start` is the app's clock: the worker's cleanup forgets buckets idle for a day of that clock. */
async function run(repository: RateLimitRepository, key: string, start: number): Promise<Array<{ isAllowed: boolean; retryAfterSeconds: number }>> {
  const verdicts = [];
  for (const [verb, atSeconds] of SCRIPT) verdicts.push(await repository[verb](key, 3, 60_000, start + atSeconds * 1000));
  return verdicts;
}

for (const database of DATABASES) {
  describe(`${database}: token bucket arithmetic, SQL and memory store alike`, () => {
    let t: TestApp;
    before(async () => {
      t = await startTestApp({ database, smtp: false });
    });
    after(async () => t.close());

    it('refills evenly, caps at capacity and tells how long to wait, exactly as the memory store does', async () => {
      const expected = SCRIPT.map(([, , verdict]) => verdict);
      assert.deepEqual(await run(new MemoryStore().rateLimits, 'test:bucket', t.clock.nowMilliseconds()), expected, 'memory store');
      assert.deepEqual(await run(createRateLimitRepository(t.composed.database.db), 'test:bucket', t.clock.nowMilliseconds()), expected, database);
    });

    it('keeps buckets apart by key and forgets idle ones', async () => {
      const sql = createRateLimitRepository(t.composed.database.db);
      const now = t.clock.nowMilliseconds();
      for (let index = 0; index < 2; index += 1) assert.equal((await sql.take('test:one', 2, 60_000, now)).isAllowed, true);
      assert.equal((await sql.take('test:one', 2, 60_000, now)).isAllowed, false);
      assert.equal((await sql.take('test:two', 2, 60_000, now)).isAllowed, true);
      assert.ok((await sql.deleteIdle(now + 1)) >= 2);
      assert.equal((await sql.take('test:one', 2, 60_000, now)).isAllowed, true, 'a forgotten bucket starts full');
    });
  });
}

import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { BucketVerdict, RateLimitRepository } from '../../../src/core/ports.js';
import { createRateLimitRepository } from '../../../src/store/rate-limit-repository.js';
import { DATABASES } from '../../support/databases.js';
import { MemoryStore } from '../../support/memory-store.js';
import { startTestApp, type TestApp } from '../../support/test-app.js';

type Step = [verb: 'take' | 'hasUnit', atSeconds: number, expected: BucketVerdict];

const ALLOW = { isAllowed: true, retryAfterSeconds: 0 };
const refuse = (retryAfterSeconds: number): BucketVerdict => ({ isAllowed: false, retryAfterSeconds });

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
async function run(repository: RateLimitRepository, key: string, start: number): Promise<Array<BucketVerdict>> {
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
      assert.deepEqual(await run(createRateLimitRepository(t.composed.database.db, t.composed.database.dialect), 'test:bucket', t.clock.nowMilliseconds()), expected, database);
    });

    it('keeps buckets apart by key and forgets idle ones', async () => {
      const sql = createRateLimitRepository(t.composed.database.db, t.composed.database.dialect);
      const now = t.clock.nowMilliseconds();
      for (let index = 0; index < 2; index += 1) assert.equal((await sql.take('test:one', 2, 60_000, now)).isAllowed, true);
      assert.equal((await sql.take('test:one', 2, 60_000, now)).isAllowed, false);
      assert.equal((await sql.take('test:two', 2, 60_000, now)).isAllowed, true);
      assert.ok((await sql.deleteIdle(now + 1)) >= 2);
      assert.equal((await sql.take('test:one', 2, 60_000, now)).isAllowed, true, 'a forgotten bucket starts full');
    });

    it('takes from several buckets all or nothing, and parallel requests never overdraw one', async () => {
      const sql = createRateLimitRepository(t.composed.database.db, t.composed.database.dialect);
      const now = t.clock.nowMilliseconds();
      const bucket = (key: string, capacity: number) => ({ key: `all:${key}`, capacity, windowMilliseconds: 60_000 });
      // 40 requests at once over overlapping buckets (in different orders): shared holds 10, each own 3.
      const requests = Array.from({ length: 40 }, (_, index) => {
        const own = bucket(`own${index % 4}`, 3);
        return index % 2 === 0 ? [own, bucket('shared', 10)] : [bucket('shared', 10), own];
      });
      const verdicts = await Promise.all(requests.map((buckets) => sql.takeAll(buckets, now)));
      const granted = verdicts.filter((verdict) => verdict.isAllowed).length;
      assert.equal(granted, 10, 'the shared bucket paid for exactly 10');
      for (const verdict of verdicts.filter((candidate) => !candidate.isAllowed)) assert.ok(verdict.retryAfterSeconds >= 6, 'a unit of either bucket refills in 6 s or more');
      // Refusals took nothing: the 4 own buckets held 12 units and paid for the 10 grants, so 2 are left.
      let spare = 0;
      for (let index = 0; index < 4; index += 1) while ((await sql.takeAll([bucket(`own${index}`, 3)], now)).isAllowed) spare += 1;
      assert.equal(spare, 2, '12 own units minus the 10 granted');
      assert.deepEqual(await sql.takeAll([bucket('shared', 10)], now), { isAllowed: false, retryAfterSeconds: 6 });
    });

    it('charges a bucket named twice twice, and refuses as a whole when it cannot', async () => {
      const sql = createRateLimitRepository(t.composed.database.db, t.composed.database.dialect);
      const now = t.clock.nowMilliseconds();
      const address = { key: 'twice:address', capacity: 3, windowMilliseconds: 30_000 };
      const global = { key: 'twice:global', capacity: 100, windowMilliseconds: 60_000 };
      assert.deepEqual(await sql.takeAll([address, address, global], now), { isAllowed: true, retryAfterSeconds: 0 });
      assert.deepEqual(await sql.takeAll([address, address, global], now), { isAllowed: false, retryAfterSeconds: 10 }, 'one unit left, two wanted: 10 s for the second');
      assert.deepEqual(await new MemoryStore().rateLimits.takeAll([address, address, global], now), { isAllowed: true, retryAfterSeconds: 0 });
      // The refusal left the global bucket alone: 99 more units, then it is empty.
      for (let index = 0; index < 99; index += 1) assert.equal((await sql.takeAll([global], now)).isAllowed, true, `global unit ${index + 2}`);
      assert.equal((await sql.takeAll([global], now)).isAllowed, false);
    });
  });
}

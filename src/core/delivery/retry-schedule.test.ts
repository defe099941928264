import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { SeededRandomSource } from '../../../test/support/fake-ports.js';
import { nextAttemptDelayMilliseconds, RETRY_BASE_MILLISECONDS, RETRY_CAP_MILLISECONDS } from './retry-schedule.js';

/** The random source gives 0x00000000 (lowest jitter) or 0xffffffff (highest). */
const lowest = (): SeededRandomSource => new SeededRandomSource(1, [0, 0, 0, 0]);
const highest = (): SeededRandomSource => new SeededRandomSource(1, [255, 255, 255, 255]);

describe('nextAttemptDelayMilliseconds()', () => {
  it('doubles the ceiling with each attempt: 2 s, 4 s, 8 s, 16 s, 32 s', () => {
    for (const [attempts, ceiling] of [[1, 2000], [2, 4000], [3, 8000], [4, 16_000], [5, 32_000]] as const) {
      assert.equal(nextAttemptDelayMilliseconds(attempts, lowest()), ceiling / 2, `attempt ${attempts}, lowest jitter`);
      const high = nextAttemptDelayMilliseconds(attempts, highest());
      assert.ok(high <= ceiling && high >= ceiling - 1, `attempt ${attempts}: ${high} not at the ceiling ${ceiling}`);
    }
  });

  it('caps the delay at 60 s however many attempts came before', () => {
    for (const attempts of [6, 7, 10, 17, 100, 10_000]) {
      assert.equal(nextAttemptDelayMilliseconds(attempts, lowest()), RETRY_CAP_MILLISECONDS / 2);
      assert.ok(nextAttemptDelayMilliseconds(attempts, highest()) <= RETRY_CAP_MILLISECONDS);
    }
    assert.equal(RETRY_CAP_MILLISECONDS, 60_000);
  });

  it('jitters within [ceiling/2, ceiling] and actually spreads retries out', () => {
    const random = new SeededRandomSource('jitter');
    for (const attempts of [1, 3, 8]) {
      const ceiling = Math.min(RETRY_CAP_MILLISECONDS, RETRY_BASE_MILLISECONDS * 2 ** (attempts - 1));
      const delays = Array.from({ length: 200 }, () => nextAttemptDelayMilliseconds(attempts, random));
      for (const delay of delays) assert.ok(delay >= ceiling / 2 && delay <= ceiling, `${delay} outside [${ceiling / 2}, ${ceiling}]`);
      // Nodes retrying after one outage must not all come back at the same moment.
      assert.ok(new Set(delays).size > 150, `only ${new Set(delays).size} distinct delays`);
      const spread = Math.max(...delays) - Math.min(...delays);
      assert.ok(spread > ceiling / 4, `spread ${spread} too narrow for ceiling ${ceiling}`);
    }
  });

  it('treats a first attempt count of 0 like 1', () => {
    assert.equal(nextAttemptDelayMilliseconds(0, lowest()), RETRY_BASE_MILLISECONDS / 2);
  });
});

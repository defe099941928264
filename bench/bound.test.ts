import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { Limits } from './limits.js';
import { boundFor, kdfCeilingFor } from './scenarios.js';

const limits: Limits = {
  kdf: { perSecond: 100, singleVerifyMs: 16, threadPoolSize: 2, inFlight: 4, stealPercent: 0 },
  http: { 16: 10_000 },
  httpSingleProcess: { 16: 10_000 },
  httpCluster: { 16: 9_000 },
  sqliteUpdatesPerSecond: 50_000,
  postgresUpdatesPerSecond: undefined,
};

describe('the bound of a level', () => {
  it('holds a KDF-bound level against the better of the ceilings measured beside it', () => {
    assert.equal(kdfCeilingFor({ kdfCeilingBeside: { beforePerSecond: 82.5, afterPerSecond: 88 } }, limits), 88);
    assert.equal(kdfCeilingFor({ kdfCeilingBeside: { beforePerSecond: 120, afterPerSecond: 88 } }, limits), 120, 'higher than the run ceiling: still the better one');
    assert.deepEqual(boundFor('full-flow', 'sqlite', 16, limits, 88), { name: 'kdf', perSecond: 88 });
  });

  it('falls back to the run ceiling for a level measured without ceilings of its own', () => {
    assert.equal(kdfCeilingFor({}, limits), 100);
    assert.deepEqual(boundFor('wrong-pin', 'sqlite', 16, limits), { name: 'kdf', perSecond: 100 });
  });

  it('leaves levels without a KDF run to the HTTP or database bound whatever the KDF ceiling', () => {
    assert.deepEqual(boundFor('transaction-answer', 'sqlite', 16, limits, 1), { name: 'http', perSecond: 10_000 });
  });
});

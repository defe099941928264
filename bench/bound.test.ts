import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { Limits } from './limits.js';
import type { LevelCpu } from './cpu-usage.js';
import { boundFor, kdfCeilingFor, kdfRateDuring } from './scenarios.js';

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
    assert.equal(kdfCeilingFor({ scenario: 'full-flow', kdfCeilingBeside: { beforePerSecond: 82.5, afterPerSecond: 88 } }, limits, 2), 88);
    assert.equal(kdfCeilingFor({ scenario: 'full-flow', kdfCeilingBeside: { beforePerSecond: 120, afterPerSecond: 88 } }, limits, 2), 120, 'higher than the run ceiling: still the better one');
    assert.deepEqual(boundFor('full-flow', 'sqlite', 16, limits, 88), { name: 'kdf', perSecond: 88 });
  });

  it('falls back to the run ceiling for a level measured without ceilings of its own', () => {
    assert.equal(kdfCeilingFor({ scenario: 'wrong-pin' }, limits, 2), 100);
    assert.deepEqual(boundFor('wrong-pin', 'sqlite', 16, limits), { name: 'kdf', perSecond: 100 });
  });

  it('holds a level whose own KDF pool ran faster than the ceilings beside it against the rate that pool implies', () => {
    // The 12:35 run's c=64 full flows: 102.2 flows/s beside ceilings of 117.9/s ("87 %"), while the pool
    // spent 14.361 ms a verification: 139.3/s on two cores, 73 %.
    const cpu = levelCpu(14.361);
    assert.equal(kdfRateDuring(cpu, 1, 2), 139.3);
    assert.equal(kdfCeilingFor({ scenario: 'full-flow', kdfCeilingBeside: { beforePerSecond: 117.9, afterPerSecond: 116 }, cpu }, limits, 2), 139.3);
    assert.deepEqual(boundFor('full-flow', 'sqlite', 64, { ...limits, http: { 64: 30_000 } }, 139.3), { name: 'kdf', perSecond: 139.3 });
    // A pool slowed by its neighbours (more CPU a verification) never lowers the bound below the ceilings.
    assert.equal(kdfCeilingFor({ scenario: 'full-flow', kdfCeilingBeside: { beforePerSecond: 117.9, afterPerSecond: 116 }, cpu: levelCpu(19) }, limits, 2), 117.9);
    assert.equal(kdfRateDuring(levelCpu(0), 1, 2), undefined, 'no SCHED_IDLE pool to read: no rate');
    assert.equal(kdfRateDuring(levelCpu(10), 0, 2), undefined, 'no KDF runs in the scenario');
  });

  it('leaves levels without a KDF run to the HTTP or database bound whatever the KDF ceiling', () => {
    assert.deepEqual(boundFor('transaction-answer', 'sqlite', 16, limits, 1), { name: 'http', perSecond: 10_000 });
  });
});

function levelCpu(serverKdfPoolMs: number): LevelCpu {
  return {
    serverMainThreadMs: 2.8, serverMainWakeUps: 3.6, serverOtherThreadsMs: serverKdfPoolMs + 0.4, serverKdfPoolMs, driverMs: 1.1,
    allCoresBusyPercent: 95, machineBusyPercent: 98.8, stealPercent: 0, postgresMs: 0,
  } as LevelCpu;
}

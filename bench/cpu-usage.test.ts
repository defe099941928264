import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { machineTicks, stealPercentBetween } from './cpu-usage.js';

describe('machine ticks', () => {
  it('reads busy, stolen and total core time from /proc/stat, busy without idle, iowait or steal', () => {
    const ticks = machineTicks();
    assert.ok(ticks.total > 0);
    assert.ok(ticks.busy >= 0 && ticks.steal >= 0);
    assert.ok(ticks.busy + ticks.steal <= ticks.total);
  });

  it('gives steal as a share of all core time between two readings', () => {
    assert.equal(stealPercentBetween({ busy: 100, steal: 10, total: 1000 }, { busy: 300, steal: 110, total: 1400 }), 25);
    assert.equal(stealPercentBetween({ busy: 1, steal: 5, total: 10 }, { busy: 1, steal: 5, total: 10 }), 0, 'no time passed');
  });
});

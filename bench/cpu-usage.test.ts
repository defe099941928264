import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { machineTicks, schedulingPolicyOf, stealPercentBetween } from './cpu-usage.js';

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

describe('scheduling policy', () => {
  it("reads field 41 of a thread's stat line, whatever its command name holds", () => {
    const after = (policy: number): string => ['S', ...Array.from({ length: 37 }, (_, index) => String(index + 4)), String(policy), '0', '0'].join(' ');
    assert.equal(schedulingPolicyOf(`4242 (node) ${after(5)}`), 5);
    assert.equal(schedulingPolicyOf(`4243 (a (b) c) ${after(0)}`), 0, 'a name with spaces and parentheses');
  });

  it("reads this process's own main thread as an ordinary (SCHED_OTHER) thread", () => {
    assert.equal(schedulingPolicyOf(readFileSync(`/proc/${process.pid}/task/${process.pid}/stat`, 'utf8')), 0);
  });
});

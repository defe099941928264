import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { CpuMeter, machineTicks, schedulingPolicyOf, statCpuMs, stealPercentBetween, threadRunMs, TICK_MS, voluntarySwitchesOf } from './cpu-usage.js';

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

describe('thread run time', () => {
  it("reads a thread's run time in ms, what its stat line counts in whole ticks", () => {
    const statLine = `/proc/${process.pid}/task/${process.pid}/stat`;
    const [statBefore, runBefore] = [statCpuMs(statLine), threadRunMs(process.pid)];
    // Spin this (main) thread until its stat line has counted ten more ticks.
    while (statCpuMs(statLine) < statBefore + 10 * TICK_MS);
    const [statSpent, runSpent] = [statCpuMs(statLine) - statBefore, threadRunMs(process.pid) - runBefore];
    // Each stat reading rounds utime and stime down to a tick apiece: under two ticks either way between
    // two, and the readings are microseconds apart; three ticks of slack still catch a wrong field or unit.
    assert.ok(Math.abs(runSpent - statSpent) < 3 * TICK_MS, `run ${runSpent} ms against stat's ${statSpent} ms`);
  });

  it('reads 0 for a thread that is not there', () => {
    assert.equal(threadRunMs(process.pid, 'no-such-thread'), 0);
  });
});

describe('event-loop wake-ups', () => {
  it('counts voluntary context switches only, wherever the nonvoluntary line stands', () => {
    assert.equal(voluntarySwitchesOf('Name:\tnode\nnonvoluntary_ctxt_switches:\t7\nvoluntary_ctxt_switches:\t1234\n'), 1234);
    assert.equal(voluntarySwitchesOf('Name:\tnode\n'), 0, 'a kernel without the line');
  });

  /** Runs `source` in a child and measures it as the server, from its 'go' to its 'done': its main thread's wake-ups. */
  async function measureChild(source: string): Promise<number> {
    const child = spawn(process.execPath, ['-e', source], { stdio: ['ignore', 'ignore', 'inherit', 'ipc'] });
    await once(child, 'message'); // started: its own start-up falls outside the measurement
    const meter = new CpuMeter(child.pid!, 2);
    const start = meter.mark();
    child.send('go');
    await once(child, 'message');
    const cpu = meter.since(start, 1);
    child.kill();
    await once(child, 'exit');
    return cpu!.serverMainWakeUps;
  }

  it("counts the server main thread's wake-ups per operation: one per sleep, none while it spins", async () => {
    const sleeping = await measureChild(`process.send('up'); process.on('message', async () => {
      for (let i = 0; i < 60; i += 1) await new Promise((resolve) => setTimeout(resolve, 2));
      process.send('done');
    });`);
    const spinning = await measureChild(`process.send('up'); process.on('message', () => {
      const end = performance.now() + 150; while (performance.now() < end);
      process.send('done');
    });`);
    assert.ok(sleeping >= 55, `60 sleeps counted as ${sleeping} wake-ups`);
    assert.ok(spinning < 20, `a thread that never slept counted ${spinning} wake-ups`);
  });
});

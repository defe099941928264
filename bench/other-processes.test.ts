import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { describe, it } from 'node:test';
import { MachineShare, otherProcessesBetween, shareBetween, threadWaitMs, type ProcessSnapshot } from './other-processes.js';

/** Source that burns `cpuMs` of the process's CPU time from where it runs. */
const BURN = (cpuMs: number): string => `const from = process.cpuUsage(); for (;;) { const u = process.cpuUsage(from); if (u.user + u.system >= ${cpuMs * 1000}) break; }`;

describe('the machine beside the benchmark: between two readings', () => {
  it('gives the machine\'s busy time less the benchmark\'s as other processes\' CPU, and the loop\'s wait for a core', () => {
    const start = { machineBusyMs: 10_000, benchmarkMs: 4_000, mainWaitMs: 100 };
    assert.deepEqual(shareBetween(start, { machineBusyMs: 10_500, benchmarkMs: 4_380, mainWaitMs: 141.25 }), { othersCpuMs: 120, mainWaitMs: 41.3 });
  });

  it('reads a remainder below zero (the two sides tick apart) as none', () => {
    const start = { machineBusyMs: 10_000, benchmarkMs: 4_000, mainWaitMs: 0 };
    assert.equal(shareBetween(start, { machineBusyMs: 10_100, benchmarkMs: 4_120, mainWaitMs: 0 }).othersCpuMs, 0);
  });
});

describe('the machine beside the benchmark: /proc', () => {
  it('reads a thread\'s run-queue wait, and 0 for one that is gone', () => {
    const wait = threadWaitMs(process.pid);
    assert.ok(Number.isFinite(wait) && wait >= 0);
    assert.equal(threadWaitMs(2 ** 22 + 1), 0, 'above the largest pid Linux hands out');
  });

  it('counts a process started after the benchmark was listed as another process, and one listed as the benchmark\'s', async () => {
    const share = new MachineShare(process.pid);
    const before = share.read();
    const outside = spawn(process.execPath, ['-e', BURN(300)], { stdio: 'ignore' });
    await once(outside, 'exit');
    const afterOutside = share.read();
    // Whole clock ticks on both sides: a few ticks either way, never most of 300 ms.
    assert.ok(shareBetween(before, afterOutside).othersCpuMs >= 240, `other processes: ${shareBetween(before, afterOutside).othersCpuMs} ms`);

    // Burns when told, says so, and lives on until told again: once reaped its time would leave its stat.
    const listed = spawn(process.execPath, ['-e', `process.stdin.once('data', () => { ${BURN(300)}; process.stdout.write('done'); process.stdin.once('data', () => process.exit(0)); })`], { stdio: ['pipe', 'pipe', 'ignore'] });
    await new Promise((resolve) => setTimeout(resolve, 100));
    share.list();
    const beforeListed = share.read();
    listed.stdin!.write('go');
    await once(listed.stdout!, 'data');
    const grew = share.read().benchmarkMs - beforeListed.benchmarkMs;
    listed.stdin!.write('exit');
    await once(listed, 'exit');
    assert.ok(grew >= 240, `benchmark CPU grew by ${grew} ms`);
  });
});

describe('the machine beside the benchmark: over a run', () => {
  const snapshot = (entries: Array<[number, string, number]>): ProcessSnapshot => new Map(entries.map(([pid, name, cpuMs]) => [pid, { name, cpuMs }]));

  it('sums other processes by name, leaves the benchmark\'s out, and counts new processes and reused pids whole', () => {
    const start = snapshot([[1, 'init', 100], [10, 'beam.smp', 5_000], [11, 'beam.smp', 200], [20, 'node', 50], [30, 'postgres', 10], [40, 'sshd', 70]]);
    const end = snapshot([
      [1, 'init', 100], // idle: left out
      [10, 'beam.smp', 7_400], // +2,400
      [11, 'beam.smp', 300], // +100
      [20, 'node', 9_000], // the benchmark
      [30, 'postgres', 900], // the database
      [40, 'cron', 30], // pid 40 reused by another command: new, whole
      [50, 'kdamond.0', 800], // started since
    ]);
    const others = otherProcessesBetween(start, end, (pid, name) => pid === 20 || name === 'postgres', 2);
    assert.deepEqual(others, { totalMs: 3_330, busiest: [{ name: 'beam.smp', cpuMs: 2_500 }, { name: 'kdamond.0', cpuMs: 800 }] });
  });
});

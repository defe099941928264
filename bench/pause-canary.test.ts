import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { describe, it } from 'node:test';
import { schedulingPolicyOf } from './cpu-usage.js';
import { wallClockMs } from './latency.js';
import { commonPauses, longestMs, ownStallMs, PauseCanary, pauseSummaryText, type CanaryKind, type Pause } from './pause-canary.js';

const SCHED_FIFO = 1;
const hasCCompiler = spawnSync(process.env['CC'] || 'cc', ['--version'], { stdio: 'ignore' }).status === 0;
const expectedKind = (kind: CanaryKind): CanaryKind => (kind === 'c' && !hasCCompiler ? 'node' : kind);
const pause = (startMs: number, durationMs: number): Pause => ({ startMs, endMs: startMs + durationMs + 5, durationMs });

describe('bench pause canary: a stall is the server\'s own less what the whole VM paused', () => {
  it('takes the longest overlapping pause out of each window\'s stall, and keeps the worst window', () => {
    const windows = [
      { fromMs: 1000, toMs: 1250, stallMs: 48 },
      { fromMs: 1250, toMs: 1500, stallMs: 12 },
    ];
    // Without pauses every stall is the server's.
    assert.equal(ownStallMs(windows, []), 48);
    // A 45 ms pause of the VM in the first window explains all but 3 ms of its stall: the second window's 12 ms is the worst left.
    assert.equal(ownStallMs(windows, [pause(1100, 45)]), 12);
    // A shorter pause explains less of it.
    assert.equal(ownStallMs(windows, [pause(1100, 20), pause(1120, 30)]), 18);
  });

  it('counts a pause only where it overlaps the window (reaching back by the stall)', () => {
    const windows = [{ fromMs: 1000, toMs: 1250, stallMs: 40 }];
    // Well before the window, and after it: not the same moment.
    assert.equal(ownStallMs(windows, [pause(800, 40), pause(1300, 40)]), 40);
    // Ending inside the 40 ms before the window opened: the stall reported at 1250 may have begun there.
    assert.equal(ownStallMs(windows, [pause(930, 40)]), 0);
  });

  it('counts as the whole VM\'s only what every canary had at once', () => {
    // Both stopped from about 1010 to 1050; the second canary's pause began earlier.
    const first = [pause(1005, 45)];
    const second = [pause(990, 60), pause(2000, 30)];
    assert.deepEqual(commonPauses([first, second], 5), [{ startMs: 1005, endMs: 1055, durationMs: 45 }]);
    // A pause of one vCPU alone (the second canary's at 2000) is nobody else's.
    assert.deepEqual(commonPauses([first, [pause(2000, 30)]], 5), []);
    // Intervals that barely touch leave less than a period in common: no shared pause.
    assert.deepEqual(commonPauses([[pause(1000, 20)], [pause(1022, 20)]], 5), []);
  });

  it('says in the report which canary ran and what it cost', () => {
    const summary = { canExcuse: true, pausesOver20Ms: 1, longestMs: 21.8, longestOneVcpuMs: 26.9, cpuMs: 6400 };
    assert.match(pauseSummaryText({ ...summary, kind: 'c' }), /canary processes \(a C program\) pinned one to each core at realtime priority.*their own CPU: 6400 ms/);
    assert.match(pauseSummaryText({ ...summary, kind: 'node' }), /canary processes \(Node\.js: no C compiler here\) pinned/);
    assert.match(pauseSummaryText({ ...summary, kind: 'c', canExcuse: false }), /\(a C program\) \(without realtime priority or pinning here, so they excuse no stall\)/);
  });

  for (const kind of ['c', 'node'] as const) {
    it(`sees real pauses (${kind} canary): all canaries stopped for 120 ms is a pause of the whole VM, one of them stopped is not`, async () => {
      const canary = await PauseCanary.start(2, { kind });
      try {
        // Honest about what it can tell: realtime and pinned only if the kernel says so.
        const isFifo = canary.pids.map((pid) => schedulingPolicyOf(readFileSync(`/proc/${pid}/stat`, 'utf8')) === SCHED_FIFO);
        assert.equal(isFifo.every(Boolean), canary.canExcuse);
        // The C canary runs wherever a C compiler is (this machine builds better-sqlite3 with one).
        assert.equal(canary.kind, expectedKind(kind));
        const affinity = canary.pids.map((pid) => Number(/Cpus_allowed_list:\s*(\S+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1]));
        if (canary.canExcuse) assert.deepEqual(affinity, [0, 1]);
        await sleep(50);
        const stoppedAt = wallClockMs();
        for (const pid of canary.pids) process.kill(pid, 'SIGSTOP');
        // Until its SIGSTOP lands a canary (at realtime priority) may still tick: the whole VM's pause begins
        // once the last one has been sent, which under load came 2.4 ms after stoppedAt.
        const allStoppedAt = wallClockMs();
        await sleep(120);
        for (const pid of canary.pids) process.kill(pid, 'SIGCONT');
        const resumedAt = wallClockMs();
        await sleep(100);
        const during = canary.pausesBetween(stoppedAt, resumedAt);
        assert.ok(longestMs(canary.pausesBetween(stoppedAt, resumedAt)) >= 100, JSON.stringify(during));
        // It is placed where it was: it began by the time every canary was stopped and ended after the 120 ms
        // (the first canary resumes a little before resumedAt, read once both were sent SIGCONT).
        assert.ok(during.some((seen) => seen.startMs <= allStoppedAt + 1 && seen.endMs >= stoppedAt + 115), JSON.stringify({ during, stoppedAt, allStoppedAt, resumedAt }));

        const oneStoppedAt = wallClockMs();
        process.kill(canary.pids[0]!, 'SIGSTOP');
        await sleep(120);
        process.kill(canary.pids[0]!, 'SIGCONT');
        const oneResumedAt = wallClockMs();
        await sleep(100);
        // Under 100 ms, not 0: a real pause of the whole VM may fall in these 120 ms, but not one as long as the stop.
        assert.ok(longestMs(canary.pausesBetween(oneStoppedAt, oneResumedAt)) < 100, JSON.stringify(canary.pausesBetween(oneStoppedAt, oneResumedAt)));

        const summary = canary.summary();
        assert.ok(summary.pausesOver20Ms >= 1 && summary.longestMs >= 100 && summary.longestOneVcpuMs >= 100, JSON.stringify(summary));
        assert.equal(summary.kind, canary.kind);
        // Their own CPU, read from /proc while they run: starting Node.js alone takes tens of ms; the C
        // canaries' 2 x 40 wake-ups in these 0.4 s take well under 20 ms (one that never slept would take 800).
        assert.ok(canary.kind === 'c' ? summary.cpuMs < 20 : summary.cpuMs > 0, JSON.stringify(summary));
      } finally {
        await canary.stop();
      }
    });
  }
});

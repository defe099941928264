import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { describe, it } from 'node:test';
import { schedulingPolicyOf } from './cpu-usage.js';
import { wallClockMs } from './latency.js';
import { ownStallMs, PauseCanary, type Pause } from './pause-canary.js';

const SCHED_FIFO = 1;
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

  it('sees a real process pause: the canary stopped for 120 ms reports a pause of about that long, when it was', async () => {
    const canary = await PauseCanary.start();
    try {
      // Honest about its priority: realtime only if the kernel says so.
      const policy = schedulingPolicyOf(readFileSync(`/proc/${canary.pid}/stat`, 'utf8'));
      assert.equal(policy === SCHED_FIFO, canary.isRealtime);
      await sleep(50);
      const stoppedAt = wallClockMs();
      process.kill(canary.pid, 'SIGSTOP');
      await sleep(120);
      process.kill(canary.pid, 'SIGCONT');
      const resumedAt = wallClockMs();
      await sleep(100);
      const during = canary.pausesBetween(stoppedAt, resumedAt);
      assert.ok(canary.longestPauseMs(stoppedAt, resumedAt) >= 100, JSON.stringify(during));
      // It is placed where it was: the timer's runs around it bracket the stop.
      assert.ok(during.some((seen) => seen.startMs <= stoppedAt + 1 && seen.endMs >= resumedAt - 1), JSON.stringify({ during, stoppedAt, resumedAt }));
      const summary = canary.summary();
      assert.ok(summary.pausesOver20Ms >= 1 && summary.longestMs >= 100, JSON.stringify(summary));
      // Its own CPU, read from /proc while it runs (starting Node alone takes tens of ms).
      assert.ok(summary.cpuMs > 0, JSON.stringify(summary));
    } finally {
      await canary.stop();
    }
  });
});

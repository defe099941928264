import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { lateness, Metrics } from './metrics.js';

function gauge(text: string, name: string): number {
  const match = new RegExp(`^${name} ([0-9.eE+-]+)$`, 'm').exec(text);
  assert.ok(match, `${name} in the exposition`);
  return Number(match[1]);
}

/** Keeps the event loop busy, as a long synchronous task would. */
function block(milliseconds: number): void {
  const until = performance.now() + milliseconds;
  while (performance.now() < until);
}

describe('Metrics: event-loop stalls', () => {
  it('counts only what exceeds the 10 ms sampling period: an idle loop has not stalled', () => {
    assert.equal(lateness(9_100_000), 0, 'a timer that fired a little early');
    assert.equal(lateness(10_000_000), 0);
    assert.equal(lateness(25_000_000), 0.015);
    assert.equal(lateness(90_000_000), 0.08);
  });

  it('reports the longest stall since serving, and since the previous scrape (reset by each scrape)', async () => {
    const metrics = new Metrics();
    try {
      metrics.resetEventLoopDelay();
      await sleep(30);
      block(80);
      await sleep(30);
      const first = await metrics.render();
      assert.ok(gauge(first, 'mailotp_event_loop_max_stall_seconds') >= 0.07, first);
      assert.ok(gauge(first, 'mailotp_event_loop_recent_max_stall_seconds') >= 0.07, first);
      await sleep(50);
      const second = await metrics.render();
      assert.ok(gauge(second, 'mailotp_event_loop_recent_max_stall_seconds') < 0.07, 'the 80 ms stall belongs to the previous interval');
      assert.ok(gauge(second, 'mailotp_event_loop_max_stall_seconds') >= 0.07, 'but still to the time since serving');
    } finally {
      metrics.close();
    }
  });
});

describe('Metrics: counters', () => {
  it('counts per label set, in the exposition format, label values escaped', async () => {
    const metrics = new Metrics();
    try {
      const outcomes = metrics.counter('t_outcomes_total', 'test counter');
      const queued = metrics.counter('t_queued_total', 'unlabelled');
      outcomes({ result: 'accept', reason: 'challenge' });
      outcomes({ result: 'accept', reason: 'challenge' });
      outcomes({ result: 'reject', reason: 'wrong_pin' }, 3);
      outcomes({ result: 'odd', reason: 'a "quoted" \\ back\nslash' });
      queued({}, 2);
      const lines = (await metrics.render()).split('\n');
      assert.ok(lines.includes('t_outcomes_total{result="accept",reason="challenge"} 2'), lines.join('\n'));
      assert.ok(lines.includes('t_outcomes_total{result="reject",reason="wrong_pin"} 3'));
      assert.ok(lines.includes('t_outcomes_total{result="odd",reason="a \\"quoted\\" \\\\ back\\nslash"} 1'));
      assert.ok(lines.includes('t_queued_total 2'));
      assert.equal(lines.filter((line) => line.startsWith('t_outcomes_total{')).length, 3);
    } finally {
      metrics.close();
    }
  });
});

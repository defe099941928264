import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { KdfCeiling } from './limits.js';
import { readSettings } from './settings.js';

/** Small Argon2id parameters and short windows: this checks the process's protocol, not the machine. */
const settings = { ...readSettings({ BENCH_QUICK: '1' }), limitDurationMs: 100, kdf: { memoryKiB: 64, iterations: 1, parallelism: 1 } };

describe('the KDF ceiling process', () => {
  it('measures as it starts and again on every request until stopped', async () => {
    const { ceiling, first } = await KdfCeiling.start(settings);
    try {
      assert.ok(first.perSecond > 0 && first.singleVerifyMs > 0, JSON.stringify(first));
      const again = await ceiling.measure(100);
      const third = await ceiling.measure(100);
      assert.ok(again.perSecond > 0 && third.perSecond > 0, JSON.stringify({ again, third }));
    } finally {
      await ceiling.stop();
    }
  });

  it('fails the run, not hangs it, when the process exits before answering', { timeout: 20_000 }, async () => {
    // Argon2 refuses a 1 KiB memory cost: the child exits with an error before its first message.
    await assert.rejects(KdfCeiling.start({ ...settings, kdf: { memoryKiB: 1, iterations: 1, parallelism: 1 } }), /exited \(1\) before it answered/);
  });
});

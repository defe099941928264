import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { startTestApp } from '../../support/test-app.js';

/** The first log line that `matches`, waiting for it up to `timeoutMs`. */
async function untilLogged(lines: readonly string[], matches: (entry: Record<string, any>) => boolean, timeoutMs = 5_000): Promise<Record<string, any>> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const found = lines.map((line) => JSON.parse(line) as Record<string, any>).find(matches);
    if (found) return found;
    if (Date.now() > deadline) throw new Error(`not logged within ${timeoutMs} ms; lines: ${lines.join('')}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

describe('the outbox worker\'s failures reach the server log', () => {
  it('logs a claim round that fails on the store, with its code and message and without a stack', async () => {
    const logLines: string[] = [];
    const t = await startTestApp({ database: 'sqlite', logLines });
    try {
      t.composed.deps.store.outbox.claimDue = async () => {
        throw Object.assign(new Error('database is locked'), { code: 'SQLITE_BUSY' });
      };
      await t.composed.worker.start();
      const entry = await untilLogged(logLines, (line) => typeof line['msg'] === 'string' && line['msg'].startsWith('outbox worker:'));
      assert.equal(entry['level'], 50);
      assert.deepEqual(entry['error'], { code: 'SQLITE_BUSY', message: 'database is locked' });
      assert.ok(!JSON.stringify(entry).includes('    at '), 'no stack in the log line');
    } finally {
      await t.composed.worker.stop();
      await t.close();
    }
  });
});

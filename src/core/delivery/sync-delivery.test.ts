import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { createFakeDeps, tokenFixture } from '../../../test/support/fake-ports.js';
import { triggerChallenges } from '../challenges/trigger-challenges.js';
import { dispatchDueMail } from '../../../test/support/dispatch-due-mail.js';

describe('email.send_mode=sync and the background worker', () => {
  it('the worker cannot take a sync mail between its commit and the waiting send', async () => {
    const deps = createFakeDeps();
    const { id: _id, count: _count, countAuth: _countAuth, countAuthSuccess: _countAuthSuccess, failCountUpdatedAt: _at, ...fields } = tokenFixture();
    const token = await deps.store.tokens.insert(fields);
    const claimById = deps.store.outbox.claimById.bind(deps.store.outbox);
    let workerResults: unknown[] = [];
    // A worker poll that lands right after the commit, before the request claims its own mail.
    deps.store.outbox.claimById = async (...args) => {
      workerResults = await dispatchDueMail(deps, { owner: 'worker', leaseMilliseconds: 60_000, batchSize: 10 });
      return claimById(...args);
    };
    const result = await triggerChallenges(deps, [token], { user: undefined, realm: 'default', clientIp: '127.0.0.1' });
    assert.deepEqual(workerResults, [], 'the worker sent the mail the request was waiting to send');
    assert.deepEqual(result.failedSerials, []);
    assert.equal(result.challenges[0]?.deliveryState, 'sent');
    assert.equal(deps.mailer.sent.length, 1);
  });
});

import assert from 'node:assert/strict';
import { beforeEach, describe, it } from 'node:test';
import { createFakeDeps, type FakeDeps } from '../../../test/support/fake-ports.js';
import { OtpError } from '../errors.js';
import type { MailMessage, Mailer, SmtpSettings } from '../ports.js';
import { dispatchDueMail } from '../../../test/support/dispatch-due-mail.js';
import { deliverOutboxEntry } from './deliver-outbox-entry.js';
import { sealMailContent } from './mail-content.js';
import type { OutboxEntry } from './outbox-entry.js';
import { RETRY_CAP_MILLISECONDS } from './retry-schedule.js';

type HostBehaviour = 'accept' | 'transient' | 'permanent';

/** A mailer whose servers (by host) accept, fail transiently (4xx, network) or fail permanently (5xx). */
class ScriptedMailer implements Mailer {
  readonly behaviour = new Map<string, HostBehaviour>();
  readonly attempts: Array<{ host: string; message: MailMessage }> = [];
  async send(smtp: SmtpSettings, message: MailMessage): Promise<void> {
    this.attempts.push({ host: smtp.host, message });
    const behaviour = this.behaviour.get(smtp.host) ?? 'accept';
    if (behaviour === 'accept') return;
    throw new OtpError('MAIL_DELIVERY_FAILED', {
      detail: `${smtp.identifier}: ${behaviour === 'transient' ? 'EENVELOPE 450 RCPT (transient)' : 'EENVELOPE 550 RCPT (permanent)'}`,
      isRetryable: behaviour === 'transient',
    });
  }
  async close(): Promise<void> {}
}

const VALIDITY_MILLISECONDS = 10 * 60 * 1000;

async function addServer(deps: FakeDeps, identifier: string, host: string): Promise<void> {
  await deps.store.smtpServers.upsert(
    { identifier, server: host, port: 25, username: '', sealedPassword: '', sender: `otp@${host}`, isStartTls: false, timeoutSeconds: 5, description: '' },
    deps.clock.nowMilliseconds(),
  );
}

async function queueMail(deps: FakeDeps, id: string, smtpIdentifier = ''): Promise<OutboxEntry> {
  const now = deps.clock.nowMilliseconds();
  await deps.store.outbox.insert({
    id, transactionId: `tx-${id}`, tokenId: 1, serial: 'PIEM0001', recipient: 'alice@example.org', smtpIdentifier,
    sealedContent: sealMailContent(deps.secretBox, { subject: 'Your OTP', text: 'code 123456' }),
    messageId: `<${id}@example.org>`, nextAttemptAt: now, createdAt: now, expiresAt: now + VALIDITY_MILLISECONDS,
    leaseOwner: null, leaseExpiresAt: null,
  });
  return row(deps, id);
}

function row(deps: FakeDeps, id: string): OutboxEntry {
  const entry = deps.store.allOutbox().find((candidate) => candidate.id === id);
  assert.ok(entry, `no outbox row ${id}`);
  return entry;
}

describe('deliverOutboxEntry()', () => {
  let deps: FakeDeps;
  let mailer: ScriptedMailer;

  beforeEach(async () => {
    deps = createFakeDeps();
    mailer = new ScriptedMailer();
    deps.mailer = mailer as unknown as FakeDeps['mailer'];
    await deps.store.settings.setMany(new Map([['email.send_mode', 'async']]), 0);
    await addServer(deps, 'a', 'a.example');
    await addServer(deps, 'b', 'b.example');
    await addServer(deps, 'c', 'c.example');
  });

  it('tries the servers of the identifier in order and stops at the first that accepts', async () => {
    mailer.behaviour.set('a.example', 'transient');
    const entry = await queueMail(deps, 'm1', 'a,b,c');
    const result = await deliverOutboxEntry(deps, entry);
    assert.equal(result.state, 'sent');
    assert.deepEqual(mailer.attempts.map((attempt) => attempt.host), ['a.example', 'b.example']);
    assert.equal(row(deps, 'm1').state, 'sent');
    assert.equal(mailer.attempts[1]?.message.messageId, '<m1@example.org>');
  });

  it('fails over past a permanent failure too: another server may accept what one refuses', async () => {
    mailer.behaviour.set('a.example', 'permanent');
    const result = await deliverOutboxEntry(deps, await queueMail(deps, 'm1', 'a,b'));
    assert.equal(result.state, 'sent');
    assert.deepEqual(mailer.attempts.map((attempt) => attempt.host), ['a.example', 'b.example']);
  });

  it('defers a transient failure with a later next attempt, one more attempt counted, and keeps the sealed content', async () => {
    mailer.behaviour.set('a.example', 'transient');
    const entry = await queueMail(deps, 'm1', 'a');
    const result = await deliverOutboxEntry(deps, entry);
    assert.equal(result.state, 'deferred');
    const deferred = row(deps, 'm1');
    assert.equal(deferred.state, 'deferred');
    assert.equal(deferred.attempts, 1);
    assert.ok(deferred.nextAttemptAt > deps.clock.nowMilliseconds());
    assert.match(deferred.lastError ?? '', /450/);
    assert.equal(deferred.sealedContent, entry.sealedContent);
    assert.equal(deferred.leaseOwner, null);
  });

  it('fails a permanent failure at once and erases the content', async () => {
    mailer.behaviour.set('a.example', 'permanent');
    const result = await deliverOutboxEntry(deps, await queueMail(deps, 'm1', 'a'));
    assert.equal(result.state, 'failed');
    const failed = row(deps, 'm1');
    assert.equal(failed.state, 'failed');
    assert.equal(failed.sealedContent, '');
    assert.match(failed.lastError ?? '', /550/);
  });

  it('defers when any server failed transiently, even if another refused permanently', async () => {
    mailer.behaviour.set('a.example', 'permanent');
    mailer.behaviour.set('b.example', 'transient');
    const result = await deliverOutboxEntry(deps, await queueMail(deps, 'm1', 'a,b'));
    assert.equal(result.state, 'deferred');
    assert.match(row(deps, 'm1').lastError ?? '', /550.*450/);
  });

  it('fails instead of deferring on the last chance (the synchronous mode)', async () => {
    mailer.behaviour.set('a.example', 'transient');
    const result = await deliverOutboxEntry(deps, await queueMail(deps, 'm1', 'a'), { isLastChance: true });
    assert.equal(result.state, 'failed');
    assert.equal(row(deps, 'm1').state, 'failed');
    assert.equal(row(deps, 'm1').sealedContent, '');
  });

  it('gives up without sending once the challenge has expired', async () => {
    const entry = await queueMail(deps, 'm1', 'a');
    deps.clock.advance(VALIDITY_MILLISECONDS);
    const result = await deliverOutboxEntry(deps, entry);
    assert.equal(result.state, 'failed');
    assert.equal(mailer.attempts.length, 0);
    assert.match(row(deps, 'm1').lastError ?? '', /expire/);
    assert.equal(row(deps, 'm1').sealedContent, '');
  });

  it('gives up when the next attempt would come after expiry, and says so', async () => {
    mailer.behaviour.set('a.example', 'transient');
    const entry = await queueMail(deps, 'm1', 'a');
    // One second of life left: any backoff (at least 1 s) lands past the expiry.
    deps.clock.advance(VALIDITY_MILLISECONDS - 1000);
    const result = await deliverOutboxEntry(deps, entry);
    assert.equal(result.state, 'failed');
    const failed = row(deps, 'm1');
    assert.match(failed.lastError ?? '', /450/);
    assert.match(failed.lastError ?? '', /expire/);
    assert.equal(failed.sealedContent, '');
  });

  it('keeps retrying a transient failure with backoff until the challenge expires, never past it', async () => {
    mailer.behaviour.set('a.example', 'transient');
    await queueMail(deps, 'm1', 'a');
    const options = { owner: 'test', leaseMilliseconds: 60_000, batchSize: 10 };
    let previousNext = 0;
    for (let round = 1; row(deps, 'm1').state === 'deferred' || round === 1; round += 1) {
      assert.ok(round < 100, 'never gave up');
      const [result] = await dispatchDueMail(deps, options);
      assert.ok(result, `nothing due in round ${round}`);
      const current = row(deps, 'm1');
      if (current.state === 'deferred') {
        assert.equal(current.attempts, round);
        assert.ok(current.nextAttemptAt - deps.clock.nowMilliseconds() <= RETRY_CAP_MILLISECONDS);
        assert.ok(current.nextAttemptAt < current.expiresAt);
        assert.ok(current.nextAttemptAt > previousNext);
        previousNext = current.nextAttemptAt;
        // Not due yet: a dispatch before next_attempt sends nothing.
        assert.deepEqual(await dispatchDueMail(deps, options), []);
        deps.clock.advance(current.nextAttemptAt - deps.clock.nowMilliseconds());
      }
    }
    assert.equal(row(deps, 'm1').state, 'failed');
    assert.ok(deps.clock.nowMilliseconds() < row(deps, 'm1').expiresAt);
    assert.ok(mailer.attempts.length > 5, `only ${mailer.attempts.length} attempts in ten minutes`);
  });

  it('sends a deferred mail once the server accepts again, with the same Message-ID', async () => {
    mailer.behaviour.set('a.example', 'transient');
    await queueMail(deps, 'm1', 'a');
    const options = { owner: 'test', leaseMilliseconds: 60_000, batchSize: 10 };
    await dispatchDueMail(deps, options);
    mailer.behaviour.set('a.example', 'accept');
    deps.clock.advance(RETRY_CAP_MILLISECONDS);
    const [result] = await dispatchDueMail(deps, options);
    assert.equal(result?.state, 'sent');
    assert.deepEqual(mailer.attempts.map((attempt) => attempt.message.messageId), ['<m1@example.org>', '<m1@example.org>']);
    assert.deepEqual(await dispatchDueMail(deps, options), []);
  });

  it('sends the subject and text it is handed as they are, without opening the sealed copy (a hand-off)', async () => {
    const entry = await queueMail(deps, 'm1', 'a');
    const open = deps.secretBox.open.bind(deps.secretBox);
    let opened = 0;
    deps.secretBox.open = (sealed) => {
      opened += 1;
      return open(sealed);
    };
    const result = await deliverOutboxEntry(deps, entry, { content: { subject: 'Handed over', text: 'code 654321' } });
    assert.equal(result.state, 'sent');
    assert.equal(opened, 0);
    assert.deepEqual([mailer.attempts[0]?.message.subject, mailer.attempts[0]?.message.text], ['Handed over', 'code 654321']);
    assert.equal(row(deps, 'm1').sealedContent, '', 'delivered: the sealed copy is erased all the same');
  });

  it('never sends again when the store fails to record an accepted mail: the store\'s error goes to the caller, no other server is tried', async () => {
    const entry = await queueMail(deps, 'm-store', 'a,b,c');
    const storeDown = new Error('database is locked');
    deps.store.outbox.markSent = async () => {
      throw storeDown;
    };
    let deferrals = 0;
    deps.store.outbox.markDeferred = async () => {
      deferrals += 1;
    };
    await assert.rejects(deliverOutboxEntry(deps, entry), (error) => error === storeDown);
    // One SMTP server accepted the mail: the user has the code, and a second copy from b or c would be a
    // duplicate (and a deferral a third, later). The row keeps its lease, so the worker takes the mail over
    // only once that lapses, as after a crash.
    assert.deepEqual(mailer.attempts.map((attempt) => attempt.host), ['a.example']);
    assert.equal(deferrals, 0);
    assert.equal(row(deps, 'm-store').state, 'queued');
  });

  it('says a store error while reading the SMTP settings is one, not a mailer failure, and retries without trying a server', async () => {
    const entry = await queueMail(deps, 'm-settings', 'a,b');
    deps.store.smtpServers.find = async () => {
      throw Object.assign(new Error('connection terminated unexpectedly'), { code: 'ECONNRESET' });
    };
    const result = await deliverOutboxEntry(deps, entry);
    assert.equal(result.state, 'deferred');
    assert.equal(result.error, 'could not read the SMTP settings: ECONNRESET');
    assert.equal(mailer.attempts.length, 0);
    assert.equal(row(deps, 'm-settings').lastError, 'could not read the SMTP settings: ECONNRESET');
  });

  it('reports the latency from commit to acceptance', async () => {
    const entry = await queueMail(deps, 'm1', 'a');
    deps.clock.advance(1500);
    const result = await deliverOutboxEntry(deps, entry);
    assert.equal(result.latencyMilliseconds, 1500);
  });

  it('does not claim a mail another owner holds under an unexpired lease', async () => {
    await queueMail(deps, 'm1', 'a');
    assert.equal((await dispatchDueMail(deps, { owner: 'one', leaseMilliseconds: 60_000, batchSize: 10 })).length, 1);
    await deps.store.outbox.insert({ ...row(deps, 'm1'), id: 'm2', messageId: '<m2@example.org>' });
    await deps.store.outbox.claimById('m2', 'one', deps.clock.nowMilliseconds(), 60_000);
    assert.deepEqual(await dispatchDueMail(deps, { owner: 'two', leaseMilliseconds: 60_000, batchSize: 10 }), []);
  });
});

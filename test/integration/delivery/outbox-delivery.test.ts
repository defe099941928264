import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { RETRY_CAP_MILLISECONDS } from '../../../src/core/delivery/retry-schedule.js';
import { DATABASES, type DatabaseKind } from '../../support/databases.js';
import { startSilentTcpServer, unusedPort } from '../../support/raw-tcp.js';
import { otpFromMail, startSmtpSink } from '../../support/smtp-sink.js';
import { enrolUser, startTestApp, type TestApp, type TestAppOptions } from '../../support/test-app.js';
import { everythingStored } from '../../support/database-dump.js';
import { outboxMail, storedOutboxRow, untilMail, untilMailState } from './support.js';

const PIN = 'pin-4711';

async function withApp(database: DatabaseKind, options: Omit<TestAppOptions, 'database'>, test: (t: TestApp) => Promise<void>): Promise<void> {
  const t = await startTestApp({ database, ...options });
  try {
    await test(t);
  } finally {
    await t.close();
  }
}

/** Counts mails the worker claims from the outbox (rows its claim rounds return), from now on. */
function countClaims(t: TestApp): () => number {
  const outbox = t.composed.deps.store.outbox;
  const claimDue = outbox.claimDue.bind(outbox);
  let claimed = 0;
  outbox.claimDue = async (...args) => {
    const rows = await claimDue(...args);
    claimed += rows.length;
    return rows;
  };
  return () => claimed;
}

async function askForCode(t: TestApp, login: string): Promise<Record<string, any>> {
  const body = await t.json('/validate/check', { params: { user: login, pass: PIN }, token: false });
  assert.equal(body['result'].authentication, 'CHALLENGE', JSON.stringify(body));
  return body;
}

for (const database of DATABASES) {
  describe(`${database}: durable outbox delivery`, () => {
    it('answers CHALLENGE with delivery "queued" before the SMTP server accepts the mail', async () => {
      await withApp(database, {}, async (t) => {
        const serial = await enrolUser(t, { login: 'alice', email: 'alice@example.test', pin: PIN });
        t.sink!.setBehaviour({ delayAcceptMs: 2000 });
        const body = await askForCode(t, 'alice');
        assert.equal(t.sink!.mails.length, 0, 'the answer waited for the SMTP server');
        const attributes = body['detail'].multi_challenge[0].attributes;
        assert.equal(attributes.delivery, 'queued');
        assert.match(attributes.valid_until, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)$/);
        const mail = await t.sink!.nextMail('alice@example.test', 10_000);
        const row = await untilMailState(t, serial, ['sent']);
        assert.equal(row['message_id'], mail.messageId);
        assert.equal(row['transaction_id'], body['detail'].transaction_id);
      });
    });

    it('stores each challenge and its mail under an id that starts with the time it was made', async () => {
      await withApp(database, {}, async (t) => {
        const serial = await enrolUser(t, { login: 'erin', email: 'erin@example.test', pin: PIN });
        const ids: string[] = [];
        // Past the 30 s in which a repeated PIN-only request re-sends the open challenge instead.
        for (const step of [0, 30_001, 45_000]) {
          t.clock.advance(step);
          const transactionId = (await askForCode(t, 'erin'))['detail'].transaction_id;
          const mail = await t.sink!.nextMail('erin@example.test', 10_000);
          const rows = await t.composed.database.db
            .selectFrom('challenge')
            .innerJoin('outbox', 'outbox.id', 'challenge.id')
            .select(['challenge.id as id', 'outbox.message_id as message_id'])
            .where('challenge.transaction_id', '=', transactionId)
            .execute();
          assert.equal(rows.length, 1, `one challenge and one mail for ${serial}`);
          const id = rows[0]!.id;
          assert.match(id, /^[0-9a-f]{32}$/);
          assert.equal(parseInt(id.slice(0, 12), 16), t.clock.nowMilliseconds());
          assert.equal(mail.messageId, rows[0]!.message_id);
          assert.ok(mail.messageId.startsWith(`<${id}@`), mail.messageId);
          ids.push(id);
        }
        assert.deepEqual([...ids].sort(), ids);
      });
    });

    it('defers a 450 with a reason and a later attempt, then sends it once with the same Message-ID', async () => {
      await withApp(database, {}, async (t) => {
        const serial = await enrolUser(t, { login: 'bob', email: 'bob@example.test', pin: PIN });
        t.sink!.setBehaviour({ rejectRecipientWith: 450 });
        await askForCode(t, 'bob');
        const deferred = await untilMailState(t, serial, ['deferred']);
        assert.equal(deferred['attempts'], 1);
        assert.match(deferred['reason'], /450/);
        assert.match(deferred['reason'], /transient/);
        assert.ok(Date.parse(deferred['next_attempt']) > Date.parse(deferred['created']), 'next attempt is not later');
        const challenges = await t.json(`/token/challenges/${serial}`);
        assert.equal(challenges['result'].value.challenges[0].delivery, 'deferred');
        assert.equal(t.sink!.mails.length, 0);

        t.sink!.setBehaviour({});
        // Before the next attempt is due, nothing is retried.
        await t.composed.worker.drain();
        assert.equal((await outboxMail(t, serial))['state'], 'deferred');
        t.clock.advance(RETRY_CAP_MILLISECONDS + 1000);
        const sent = await untilMailState(t, serial, ['sent']);
        const mail = await t.sink!.nextMail('bob@example.test');
        assert.equal(mail.messageId, sent['message_id']);
        assert.equal((await t.json(`/token/challenges/${serial}`))['result'].value.challenges[0].delivery, 'sent');
        t.clock.advance(RETRY_CAP_MILLISECONDS + 1000);
        await t.composed.worker.drain();
        assert.equal(t.sink!.mails.filter((received) => received.to.includes('bob@example.test')).length, 1);
      });
    });

    it('fails a 550 at once and never tries that mail again', async () => {
      await withApp(database, {}, async (t) => {
        const serial = await enrolUser(t, { login: 'carol', email: 'carol@example.test', pin: PIN });
        t.sink!.setBehaviour({ rejectRecipientWith: 550 });
        await askForCode(t, 'carol');
        const failed = await untilMailState(t, serial, ['failed', 'deferred']);
        assert.equal(failed['state'], 'failed');
        assert.match(failed['reason'], /550/);
        assert.equal(t.sink!.rcptCount(), 1);
        t.sink!.setBehaviour({});
        t.clock.advance(RETRY_CAP_MILLISECONDS + 1000);
        await t.composed.worker.drain();
        await t.composed.worker.drain();
        assert.equal(t.sink!.rcptCount(), 1, 'a permanent failure was retried');
        assert.equal((await outboxMail(t, serial))['state'], 'failed');
        assert.equal((await t.json(`/token/challenges/${serial}`))['result'].value.challenges[0].delivery, 'failed');
        assert.equal((await storedOutboxRow(t, serial)).sealed_content, '');
      });
    });

    it('defers a mail to a server that never greets, as a transient failure, after email.timeout', async () => {
      const silent = await startSilentTcpServer();
      try {
        await withApp(database, {}, async (t) => {
          const serial = await enrolUser(t, { login: 'dave', email: 'dave@example.test', pin: PIN });
          await t.call('/system/setConfig', { json: { 'email.port': silent.port, 'email.timeout': 1 } });
          await askForCode(t, 'dave');
          const deferred = await untilMailState(t, serial, ['deferred', 'failed']);
          assert.equal(deferred['state'], 'deferred');
          assert.match(deferred['reason'], /transient/);
          assert.ok(silent.connectionCount() >= 1);
        });
      } finally {
        await silent.close();
      }
    });

    it('defers while nothing listens, and sends once a server comes back on that port', async () => {
      const port = await unusedPort();
      await withApp(database, {}, async (t) => {
        const serial = await enrolUser(t, { login: 'erin', email: 'erin@example.test', pin: PIN });
        await t.call('/system/setConfig', { json: { 'email.port': port } });
        await askForCode(t, 'erin');
        const deferred = await untilMailState(t, serial, ['deferred', 'failed']);
        assert.equal(deferred['state'], 'deferred');
        assert.match(deferred['reason'], /ECONNECTION|ESOCKET/);
        const revived = await startSmtpSink({ port });
        try {
          t.clock.advance(RETRY_CAP_MILLISECONDS + 1000);
          const sent = await untilMailState(t, serial, ['sent']);
          const mail = await revived.nextMail('erin@example.test');
          assert.equal(mail.messageId, sent['message_id']);
          assert.equal(sent['attempts'], 2, 'the deferred try and the accepted one');
        } finally {
          await revived.close();
        }
      });
    });

    it('gives up a transiently failing mail when its challenge expires, and erases the content', async () => {
      await withApp(database, { settings: { 'email.validtime': 30 } }, async (t) => {
        const serial = await enrolUser(t, { login: 'frank', email: 'frank@example.test', pin: PIN });
        t.sink!.setBehaviour({ rejectRecipientWith: 421 });
        await askForCode(t, 'frank');
        let mail = await untilMailState(t, serial, ['deferred']);
        while (mail['state'] === 'deferred') {
          assert.ok(Date.parse(mail['next_attempt']) < Date.parse(mail['valid_until']), 'a retry was planned after expiry');
          t.clock.advance(Math.max(0, Date.parse(mail['next_attempt']) - t.clock.nowMilliseconds()));
          const attemptsBefore = mail['attempts'] as number;
          mail = await untilMail(t, serial, (next) => next['state'] !== 'deferred' || next['attempts'] > attemptsBefore, 'another attempt');
        }
        assert.equal(mail['state'], 'failed');
        assert.ok(mail['attempts'] >= 2, `only ${mail['attempts']} attempts`);
        assert.match(mail['reason'], /expire/);
        assert.ok(t.clock.nowMilliseconds() < Date.parse(mail['valid_until']) + 1000);
        assert.equal((await storedOutboxRow(t, serial)).sealed_content, '');
        assert.equal((await t.json(`/token/challenges/${serial}`))['result'].value.challenges[0].delivery, 'failed');
        assert.equal(t.sink!.mails.length, 0);
      });
    });

    it('fails over to the second server of email.identifier in the same attempt', async () => {
      const downPort = await unusedPort();
      await withApp(database, {}, async (t) => {
        const serial = await enrolUser(t, { login: 'gina', email: 'gina@example.test', pin: PIN });
        for (const [identifier, port] of [['down', downPort], ['up', t.sink!.port]] as const) {
          const created = await t.call(`/smtpserver/${identifier}`, { json: { server: '127.0.0.1', port, sender: 'otp@mailotp.test', tls: false, timeout: 2 } });
          assert.equal(created.statusCode, 200, created.body);
        }
        await t.call('/system/setConfig', { json: { 'email.identifier': 'down,up' } });
        await askForCode(t, 'gina');
        const sent = await untilMailState(t, serial, ['sent', 'deferred', 'failed']);
        assert.equal(sent['state'], 'sent');
        assert.equal(sent['attempts'], 1, 'failover happens inside one attempt, not after a deferral');
        assert.equal((await t.sink!.nextMail('gina@example.test')).messageId, sent['message_id']);
      });
    });

    it('keeps the content sealed until delivery, then erases it; the database never holds the code', async () => {
      await withApp(database, {}, async (t) => {
        const serial = await enrolUser(t, { login: 'hank', email: 'hank@example.test', pin: PIN, otplen: 8 });
        t.sink!.setBehaviour({ rejectRecipientWith: 451 });
        await askForCode(t, 'hank');
        await untilMailState(t, serial, ['deferred']);
        const sealed = (await storedOutboxRow(t, serial)).sealed_content;
        assert.ok(sealed.length > 20, 'no content kept for the retry');
        t.sink!.setBehaviour({});
        t.clock.advance(RETRY_CAP_MILLISECONDS + 1000);
        await untilMailState(t, serial, ['sent']);
        const otp = otpFromMail(await t.sink!.nextMail('hank@example.test'));
        assert.match(otp, /^\d{8}$/);
        assert.ok(!sealed.includes(otp), 'the waiting content held the code in clear');
        assert.ok(!sealed.includes('one-time password'), 'the waiting content is plain text');
        assert.equal((await storedOutboxRow(t, serial)).sealed_content, '');
        const stored = await everythingStored(t);
        assert.ok(stored.includes('hank@example.test'), 'the dump is real');
        assert.ok(!stored.includes(otp), 'the database holds the code');
      });
    });

    it('hands a fresh mail straight to this node\'s worker, leased in the transaction that queues it', async () => {
      await withApp(database, {}, async (t) => {
        const serial = await enrolUser(t, { login: 'ivy', email: 'ivy@example.test', pin: PIN });
        const claimed = countClaims(t);
        t.sink!.setBehaviour({ delayAcceptMs: 1000 });
        await askForCode(t, 'ivy');
        const row = await t.composed.database.db.selectFrom('outbox').select(['lease_owner', 'state']).where('serial', '=', serial).executeTakeFirstOrThrow();
        assert.deepEqual(row, { lease_owner: t.composed.worker.owner, state: 'queued' });
        await t.sink!.nextMail('ivy@example.test', 10_000);
        await untilMailState(t, serial, ['sent']);
        assert.equal(claimed(), 0, 'the mail was claimed from the outbox');
      });
    });

    it('queues mails beyond the worker\'s room unleased, and its rounds send them once room frees', async () => {
      await withApp(database, {}, async (t) => {
        const logins = Array.from({ length: 7 }, (_, index) => `busy${index}`);
        for (const login of logins) await enrolUser(t, { login, email: `${login}@example.test`, pin: PIN });
        const claimed = countClaims(t);
        t.sink!.setBehaviour({ delayAcceptMs: 600 });
        await Promise.all(logins.map((login) => askForCode(t, login)));
        const leased = await t.composed.database.db.selectFrom('outbox').select('lease_owner').where('lease_owner', 'is not', null).execute();
        // The worker's room is the mailer's connections per server (4); the other 3 wait for a round.
        assert.equal(leased.length, 4);
        await t.sink!.waitForMailCount(logins.length, 10_000);
        for (const login of logins) assert.equal(t.sink!.mails.filter((mail) => mail.to.includes(`${login}@example.test`)).length, 1, login);
        assert.equal(claimed(), 3);
      });
    });

    it('sends a burst of mails over a few pooled SMTP sessions', async () => {
      await withApp(database, {}, async (t) => {
        const logins = Array.from({ length: 8 }, (_, index) => `user${index}`);
        for (const login of logins) await enrolUser(t, { login, email: `${login}@example.test`, pin: PIN });
        await Promise.all(logins.map((login) => askForCode(t, login)));
        await t.sink!.waitForMailCount(logins.length, 10_000);
        assert.deepEqual(new Set(t.sink!.mails.flatMap((mail) => mail.to)), new Set(logins.map((login) => `${login}@example.test`)));
        assert.ok(t.sink!.sessionCount() < logins.length, `${t.sink!.sessionCount()} SMTP sessions for ${logins.length} mails`);
        assert.ok(t.sink!.sessionCount() <= 2, `${t.sink!.sessionCount()} sessions, more than the pool's 2 connections`);
      });
    });
  });
}

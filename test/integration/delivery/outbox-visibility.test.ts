import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { RETRY_CAP_MILLISECONDS } from '../../../src/core/delivery/retry-schedule.js';
import { DATABASES } from '../../support/databases.js';
import { otpFromMail } from '../../support/smtp-sink.js';
import { enrolUser, startTestApp, type TestApp } from '../../support/test-app.js';
import { metricValue, untilMailState } from './support.js';

const PIN = 'pin-0815-secret';

for (const database of DATABASES) {
  describe(`${database}: GET /mail/outbox and GET /metrics`, () => {
    let t: TestApp;
    const serials: Record<string, string> = {};
    const otps: string[] = [];

    before(async () => {
      t = await startTestApp({ database });
      for (const login of ['alice', 'bob', 'carol']) serials[login] = await enrolUser(t, { login, email: `${login}@example.test`, pin: PIN });
      // alice: sent at once. bob: 450, then sent on the retry. carol: 550, failed. And one wrong PIN.
      await t.json('/validate/check', { params: { user: 'alice', pass: PIN }, token: false });
      otps.push(otpFromMail(await t.sink!.nextMail('alice@example.test')));
      await untilMailState(t, serials['alice']!, ['sent']);
      t.sink!.setBehaviour({ rejectRecipientWith: 450 });
      await t.json('/validate/check', { params: { user: 'bob', pass: PIN }, token: false });
      await untilMailState(t, serials['bob']!, ['deferred']);
      t.sink!.setBehaviour({ rejectRecipientWith: 550 });
      await t.json('/validate/check', { params: { user: 'carol', pass: PIN }, token: false });
      await untilMailState(t, serials['carol']!, ['failed']);
      t.sink!.setBehaviour({});
      t.clock.advance(RETRY_CAP_MILLISECONDS + 1000);
      await untilMailState(t, serials['bob']!, ['sent']);
      otps.push(otpFromMail(await t.sink!.nextMail('bob@example.test')));
      const wrong = await t.json('/validate/check', { params: { user: 'alice', pass: 'not-the-pin' }, token: false });
      assert.equal(wrong['result'].authentication, 'REJECT');
    });
    after(async () => t.close());

    it('lists every mail with its state, reason and counts for an admin', async () => {
      const body = await t.json('/mail/outbox');
      const value = body['result'].value;
      assert.deepEqual(value.counts, { queued: 0, deferred: 0, sent: 2, failed: 1 });
      assert.equal(value.mails.length, 3);
      const carol = value.mails.find((mail: Record<string, any>) => mail.serial === serials['carol']);
      assert.equal(carol.state, 'failed');
      assert.match(carol.reason, /550/);
      assert.equal(carol.recipient, 'carol@example.test');
      assert.match(carol.valid_until, /Z$/);
      assert.equal(carol.next_attempt, null);
      const bob = value.mails.find((mail: Record<string, any>) => mail.serial === serials['bob']);
      assert.equal(bob.state, 'sent');
      assert.equal(bob.attempts, 2, 'the deferred try and the one that was accepted');
      assert.equal(carol.attempts, 1, 'the refused try is counted too');
      assert.match(bob.message_id, /^<.+@mailotp\.test>$/);
      assert.ok(bob.sent, 'no sent time');
    });

    it('filters by state, serial and recipient, and limits', async () => {
      const list = async (params: Record<string, string | number>): Promise<Array<Record<string, any>>> =>
        (await t.json('/mail/outbox', { method: 'GET', params }))['result'].value.mails;
      assert.deepEqual((await list({ state: 'sent' })).map((mail) => mail.serial).sort(), [serials['alice'], serials['bob']].sort());
      assert.deepEqual((await list({ state: 'failed' })).map((mail) => mail.serial), [serials['carol']]);
      assert.deepEqual(await list({ state: 'deferred' }), []);
      assert.deepEqual((await list({ serial: serials['bob']! })).map((mail) => mail.recipient), ['bob@example.test']);
      assert.deepEqual((await list({ recipient: 'alice@example.test' })).map((mail) => mail.serial), [serials['alice']]);
      assert.equal((await list({ limit: 1 })).length, 1);
      const bad = await t.call('/mail/outbox', { method: 'GET', params: { state: 'lost' } });
      assert.equal(bad.statusCode, 400);
    });

    it('is for admins only', async () => {
      const response = await t.call('/mail/outbox', { token: false });
      assert.equal(response.statusCode, 401);
      assert.ok(!response.body.includes('example.test'));
    });

    it('never shows the content or the code', async () => {
      const text = (await t.call('/mail/outbox')).body;
      for (const otp of otps) assert.ok(!text.includes(otp), 'an OTP in the outbox listing');
      assert.ok(!/sealed|content|one-time password/i.test(text), 'mail content in the outbox listing');
    });

    it('exports delivery, latency, outcome and depth metrics, without any secret', async () => {
      const response = await t.call('/metrics', { token: false });
      assert.equal(response.statusCode, 200);
      assert.match(response.headers['content-type'] as string, /^text\/plain/);
      const text = response.body;
      assert.equal(metricValue(text, 'mailotp_mails_queued_total'), 3);
      assert.equal(metricValue(text, 'mailotp_mail_deliveries_total', { result: 'sent' }), 2);
      assert.equal(metricValue(text, 'mailotp_mail_deliveries_total', { result: 'deferred' }), 1);
      assert.equal(metricValue(text, 'mailotp_mail_deliveries_total', { result: 'failed' }), 1);
      assert.equal(metricValue(text, 'mailotp_mail_delivery_latency_seconds_count'), 2);
      // bob's mail waited a whole retry (the clock moved 61 s): the latency is commit to accept.
      assert.ok((metricValue(text, 'mailotp_mail_delivery_latency_seconds_sum') ?? 0) >= 61);
      assert.equal(metricValue(text, 'mailotp_validate_outcomes_total', { result: 'reject', reason: 'wrong_pin' }), 1);
      assert.equal(metricValue(text, 'mailotp_validate_outcomes_total', { result: 'challenge', reason: 'triggered' }), 3);
      assert.equal(metricValue(text, 'mailotp_outbox_mails', { state: 'queued' }), 0);
      assert.equal(metricValue(text, 'mailotp_outbox_mails', { state: 'deferred' }), 0);
      // Finished mails are the deliveries counter's: the gauge never reads the retained rows.
      assert.equal(metricValue(text, 'mailotp_outbox_mails', { state: 'sent' }), undefined);
      assert.equal(metricValue(text, 'mailotp_outbox_mails', { state: 'failed' }), undefined);
      for (const otp of otps) assert.ok(!text.includes(otp), 'an OTP in the metrics');
      assert.ok(!text.includes(PIN) && !text.includes('not-the-pin'), 'a PIN in the metrics');
    });
  });

  describe(`${database}: email.send_mode=sync`, () => {
    let t: TestApp;
    before(async () => {
      t = await startTestApp({ database, settings: { 'email.send_mode': 'sync' } });
      await enrolUser(t, { login: 'dora', email: 'dora@example.test', pin: PIN, serial: 'SYNC1' });
    });
    after(async () => t.close());

    it('waits for the SMTP server and answers delivery "sent"', async () => {
      t.sink!.setBehaviour({ delayAcceptMs: 300 });
      const body = await t.json('/validate/check', { params: { user: 'dora', pass: PIN }, token: false });
      assert.equal(body['result'].authentication, 'CHALLENGE');
      assert.equal(body['detail'].multi_challenge[0].attributes.delivery, 'sent');
      assert.equal(t.sink!.mails.filter((mail) => mail.to.includes('dora@example.test')).length, 1, 'answered before the mail was accepted');
      t.sink!.setBehaviour({});
    });

    it('answers privacyIDEA\'s message and no transaction_id when the mail fails', async () => {
      t.sink!.setBehaviour({ rejectRecipientWith: 450 });
      const body = await t.json('/validate/check', { params: { user: 'dora', pass: PIN }, token: false });
      t.sink!.setBehaviour({});
      assert.equal(body['result'].authentication, 'REJECT');
      assert.equal(body['detail'].message, 'The PIN was correct, but the EMail could not be sent!');
      assert.equal(body['detail'].transaction_id, undefined);
      // A transient failure in sync mode is final too: nothing retries it behind the client's back.
      const failed = (await t.json('/mail/outbox', { method: 'GET', params: { state: 'failed' } }))['result'].value.mails;
      assert.equal(failed.length, 1);
      t.clock.advance(RETRY_CAP_MILLISECONDS + 1000);
      const rcptBefore = t.sink!.rcptCount();
      await t.composed.worker.drain();
      assert.equal(t.sink!.rcptCount(), rcptBefore);
    });
  });
}

import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { everythingStored } from '../../support/database-dump.js';
import { DATABASES } from '../../support/databases.js';
import { otpFromMail } from '../../support/smtp-sink.js';
import { startTestApp, type TestApp } from '../../support/test-app.js';

const PIN = 'Pin-7f3a9cQ';
const SMTP_PASSWORD = 'smtp-S3cret-xyzzy';
const SERVER_PASSWORD = 'named-S3cret-plugh';

for (const database of DATABASES) {
  describe(`${database}: no secret is stored in clear`, () => {
    let t: TestApp;
    const otps: string[] = [];
    const logLines: string[] = [];

    before(async () => {
      t = await startTestApp({ database, logLines, smtp: { credentials: { username: 'mailer', password: SMTP_PASSWORD }, offersStartTls: true } });
      await t.call('/system/setConfig', { json: { 'email.username': 'mailer', 'email.password': SMTP_PASSWORD, 'email.tls': true } });
      await t.call('/smtpserver/spare', { json: { server: '127.0.0.1', port: t.sink!.port, username: 'mailer', password: SERVER_PASSWORD, sender: 'otp@example.test', tls: true } });
      await t.call('/user/', { json: { user: 'alice', email: 'alice@example.test' } });
      await t.call('/token/init', { json: { type: 'email', user: 'alice', pin: PIN, email: 'alice@example.test', otplen: 8, serial: 'REST1' } });
      // A full flow: one code answered by transaction id, one by PIN+OTP, one left open.
      for (const mode of ['transaction', 'pin', 'open'] as const) {
        const challenge = await t.json('/validate/check', { json: { user: 'alice', pass: PIN }, token: false });
        assert.equal(challenge['result'].authentication, 'CHALLENGE');
        const otp = otpFromMail(await t.sink!.nextMail('alice@example.test'));
        otps.push(otp);
        if (mode === 'transaction') {
          const body = await t.json('/validate/check', { json: { user: 'alice', transaction_id: challenge['detail'].transaction_id, pass: otp }, token: false });
          assert.equal(body['result'].authentication, 'ACCEPT');
        } else if (mode === 'pin') {
          const body = await t.json('/validate/check', { json: { user: 'alice', pass: `${PIN}${otp}` }, token: false });
          assert.equal(body['result'].authentication, 'ACCEPT');
        }
      }
    });
    after(async () => t.close());

    it('the mail really went through the authenticated SMTP server', () => {
      assert.equal(t.sink!.mails.length, 3);
      assert.ok(t.sink!.mails.every((mail) => mail.authUser === 'mailer' && mail.isSecure));
    });

    it('holds no OTP, no PIN and no SMTP password', async () => {
      const stored = await everythingStored(t);
      assert.ok(stored.includes('alice@example.test'), 'the dump is real: it contains the address');
      assert.ok(stored.includes('REST1'), 'the dump is real: it contains the serial');
      for (const otp of otps) assert.ok(!stored.includes(otp), `OTP ${otp} stored in clear`);
      assert.ok(!stored.includes(PIN), 'PIN stored in clear');
      assert.ok(!stored.includes(SMTP_PASSWORD), 'email.password stored in clear');
      assert.ok(!stored.includes(SERVER_PASSWORD), 'SMTP server password stored in clear');
    });

    it('logs no OTP, no PIN and no SMTP password, even at trace level', async () => {
      // Trigger the failure paths too: a wrong PIN and a failing SMTP login.
      await t.call('/validate/check', { json: { user: 'alice', pass: `${PIN}x` }, token: false });
      await t.call('/system/setConfig', { json: { 'email.password': 'wrong-password', 'email.send_mode': 'sync' } });
      const failed = await t.json('/validate/check', { json: { user: 'alice', pass: PIN }, token: false });
      assert.equal(failed['detail'].message, 'The PIN was correct, but the EMail could not be sent!');
      await t.call('/system/setConfig', { json: { 'email.password': SMTP_PASSWORD, 'email.send_mode': 'async' } });
      const logs = logLines.join('\n');
      assert.ok(logs.includes('/validate/check'), 'the log is real: it has the requests');
      assert.ok(logs.includes('MAIL_DELIVERY_FAILED') || logs.includes('request completed'));
      for (const secret of [...otps, PIN, SMTP_PASSWORD, SERVER_PASSWORD, 'wrong-password', t.adminToken]) {
        assert.ok(!logs.includes(secret), `a secret reached the log: ${secret.slice(0, 3)}…`);
      }
    });

    it('never returns the SMTP passwords', async () => {
      const system = await t.call('/system/', { method: 'GET' });
      const servers = await t.call('/smtpserver/', { method: 'GET' });
      const tokens = await t.call('/token/', { method: 'GET' });
      for (const response of [system, servers, tokens]) {
        assert.ok(!response.body.includes(SMTP_PASSWORD) && !response.body.includes(SERVER_PASSWORD) && !response.body.includes(PIN));
      }
      assert.equal(system.json().result.value['email.password'], '__CENSORED__');
      assert.equal(servers.json().result.value.spare.password, '__CENSORED__');
    });
  });
}

import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { DATABASES } from '../../support/databases.js';
import { otpFromMail } from '../../support/smtp-sink.js';
import { enrolUser, startTestApp, type TestApp } from '../../support/test-app.js';
import { check, failcount, mailsTo } from './abuse-support.js';

for (const database of DATABASES) {
  describe(`${database}: resend reuse with the default email.resend_after (30 s)`, () => {
    let t: TestApp;
    before(async () => {
      t = await startTestApp({ database });
      // startTestApp turns reuse off for other suites; back to the shipped default.
      const reset = await t.call('/system/email.resend_after', { method: 'DELETE' });
      assert.equal(reset.statusCode, 200, reset.body);
    });
    after(async () => t.close());

    it('answers a second PIN-only request within 30 s with the same transaction_id and sends no second mail', async () => {
      const serial = await enrolUser(t, { login: 'rita', email: 'rita@example.test', pin: '1234' });
      const first = await check(t, { user: 'rita', pass: '1234' });
      assert.equal(first['result'].authentication, 'CHALLENGE');
      const transactionId = first['detail'].transaction_id as string;
      const mails = await mailsTo(t, 'rita@example.test');
      assert.equal(mails.length, 1);
      t.clock.advance(29_000);
      const second = await check(t, { user: 'rita', pass: '1234' });
      assert.equal(second['result'].authentication, 'CHALLENGE');
      assert.equal(second['result'].value, false);
      assert.equal(second['detail'].transaction_id, transactionId);
      assert.equal((await mailsTo(t, 'rita@example.test')).length, 1, 'no second mail');
      // The reused challenge is the mailed one: its code still opens it.
      const accepted = await check(t, { user: 'rita', transaction_id: transactionId, pass: otpFromMail(mails[0]!) });
      assert.equal(accepted['result'].authentication, 'ACCEPT');
      assert.equal(await failcount(t, serial), 0);
    });

    it('mails a new code under a new transaction_id once the last challenge is older than 30 s', async () => {
      await enrolUser(t, { login: 'sam', email: 'sam@example.test', pin: '1234' });
      const first = await check(t, { user: 'sam', pass: '1234' });
      t.clock.advance(31_000);
      const second = await check(t, { user: 'sam', pass: '1234' });
      assert.equal(second['result'].authentication, 'CHALLENGE');
      assert.notEqual(second['detail'].transaction_id, first['detail'].transaction_id);
      const mails = await mailsTo(t, 'sam@example.test');
      assert.equal(mails.length, 2);
      const accepted = await check(t, { user: 'sam', transaction_id: second['detail'].transaction_id, pass: otpFromMail(mails[1]!) });
      assert.equal(accepted['result'].authentication, 'ACCEPT');
    });

    it('reuses nothing for a wrong PIN within 30 s: REJECT, no transaction_id, no mail, one failure', async () => {
      const serial = await enrolUser(t, { login: 'tess', email: 'tess@example.test', pin: '1234' });
      await check(t, { user: 'tess', pass: '1234' });
      t.clock.advance(5_000);
      const wrong = await check(t, { user: 'tess', pass: '9999' });
      assert.equal(wrong['result'].authentication, 'REJECT');
      assert.equal(wrong['result'].value, false);
      assert.equal(wrong['detail'].transaction_id, undefined);
      assert.equal((await mailsTo(t, 'tess@example.test')).length, 1);
      assert.equal(await failcount(t, serial), 1);
    });

    it('does not reuse a challenge that was answered', async () => {
      await enrolUser(t, { login: 'uma', email: 'uma@example.test', pin: '1234' });
      const first = await check(t, { user: 'uma', pass: '1234' });
      const [mail] = await mailsTo(t, 'uma@example.test');
      assert.equal((await check(t, { user: 'uma', transaction_id: first['detail'].transaction_id, pass: otpFromMail(mail!) }))['result'].authentication, 'ACCEPT');
      const again = await check(t, { user: 'uma', pass: '1234' });
      assert.notEqual(again['detail'].transaction_id, first['detail'].transaction_id);
      assert.equal((await mailsTo(t, 'uma@example.test')).length, 2);
    });
  });
}

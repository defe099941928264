import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { DATABASES } from '../../support/databases.js';
import { otpFromMail } from '../../support/smtp-sink.js';
import { enrolUser, startTestApp, type TestApp } from '../../support/test-app.js';

for (const database of DATABASES) {
  describe(`${database}: the seed document's two-step flow`, () => {
    let t: TestApp;
    before(async () => {
      t = await startTestApp({ database });
      await enrolUser(t, { login: 'alice', email: 'alice@example.test', pin: '1234', serial: 'PIEM_ALICE' });
    });
    after(async () => t.close());

    it('mails a fresh code for the PIN alone, denies access and returns a transaction_id', async () => {
      const body = await t.json('/validate/check', { params: { user: 'alice', pass: '1234' }, token: false });
      assert.equal(body['result'].authentication, 'CHALLENGE');
      assert.equal(body['result'].value, false);
      assert.match(body['detail'].transaction_id, /^\d{20}$/);
      const mail = await t.sink!.nextMail('alice@example.test');
      assert.equal(mail.subject, 'Your OTP');
      assert.match(otpFromMail(mail), /^\d{6}$/);
    });

    it('grants access for transaction_id + the mailed code, once', async () => {
      const challenge = await t.json('/validate/check', { params: { user: 'alice', pass: '1234' }, token: false });
      const otp = otpFromMail(await t.sink!.nextMail('alice@example.test'));
      const tid = challenge['detail'].transaction_id as string;
      const accepted = await t.json('/validate/check', { params: { user: 'alice', transaction_id: tid, pass: otp }, token: false });
      assert.equal(accepted['result'].authentication, 'ACCEPT');
      assert.equal(accepted['result'].value, true);
      assert.equal(accepted['detail'].message, 'Found matching challenge');
      const replay = await t.json('/validate/check', { params: { user: 'alice', transaction_id: tid, pass: otp }, token: false });
      assert.equal(replay['result'].authentication, 'REJECT');
      assert.equal(replay['detail'].message, 'wrong otp pin');
      // The audit trail, newest first: the replay's rejection, the one success, the challenge.
      const [rejected, success, triggered] = await t.composed.deps.store.audit.list(3);
      assert.deepEqual(
        [rejected, success, triggered].map((line) => [line?.action, line?.isSuccess, line?.serial, line?.username, line?.realm, line?.info]),
        [
          ['validate/check', false, 'PIEM_ALICE', 'alice', 'default', 'unknown_transaction'],
          ['validate/check', true, 'PIEM_ALICE', 'alice', 'default', 'accepted_challenge'],
          ['validate/check', false, 'PIEM_ALICE', 'alice', 'default', 'challenge_triggered'],
        ],
      );
      assert.equal(success?.clientIp, rejected?.clientIp);
      assert.ok(success?.clientIp, 'the client address is recorded');
    });

    it('grants access for PIN + the mailed code in one pass', async () => {
      await t.json('/validate/check', { params: { user: 'alice', pass: '1234' }, token: false });
      const otp = otpFromMail(await t.sink!.nextMail('alice@example.test'));
      const accepted = await t.json('/validate/check', { params: { user: 'alice', pass: `1234${otp}` }, token: false });
      assert.equal(accepted['result'].authentication, 'ACCEPT');
      assert.deepEqual(
        { message: accepted['detail'].message, serial: accepted['detail'].serial, type: accepted['detail'].type, otplen: accepted['detail'].otplen },
        { message: 'matching 1 tokens', serial: 'PIEM_ALICE', type: 'email', otplen: 6 },
      );
      const [success] = await t.composed.deps.store.audit.list(1);
      assert.deepEqual([success?.isSuccess, success?.serial, success?.username, success?.info], [true, 'PIEM_ALICE', 'alice', 'accepted_pin_and_otp']);
    });
  });
}

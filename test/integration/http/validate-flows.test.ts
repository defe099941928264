import assert from 'node:assert/strict';
import { after, before, beforeEach, describe, it } from 'node:test';
import { DATABASES } from '../../support/databases.js';
import { otpFromMail } from '../../support/smtp-sink.js';
import { enrolUser, startTestApp, type TestApp } from '../../support/test-app.js';

/** A code that is surely not `otp`: same length, every digit shifted. */
function wrongCode(otp: string): string {
  return [...otp].map((digit) => String((Number(digit) + 1) % 10)).join('');
}

for (const database of DATABASES) {
  describe(`${database}: /validate/check flows (SPEC A.5)`, () => {
    let t: TestApp;
    let serial: string;
    let userCount = 0;
    let login: string;
    let email: string;

    const check = (params: Record<string, string>) => t.json('/validate/check', { params, token: false });
    const trigger = async (): Promise<{ tid: string; otp: string }> => {
      const body = await check({ user: login, pass: '1234' });
      assert.equal(body['result'].authentication, 'CHALLENGE');
      return { tid: body['detail'].transaction_id, otp: otpFromMail(await t.sink!.nextMail(email)) };
    };
    const token = async (): Promise<Record<string, any>> => (await t.json('/token/', { params: { serial }, method: 'GET' }))['result'].value.tokens[0];

    before(async () => {
      t = await startTestApp({ database });
    });
    after(async () => t.close());
    beforeEach(async () => {
      userCount += 1;
      login = `user${userCount}`;
      email = `${login}@example.test`;
      serial = await enrolUser(t, { login, email, pin: '1234' });
    });

    it('flow 1: the PIN alone sends a mail and answers CHALLENGE with privacyIDEA\'s detail fields', async () => {
      const body = await check({ user: login, pass: '1234' });
      assert.equal(body['id'], 2);
      assert.equal(body['result'].status, true);
      assert.equal(body['result'].value, false);
      assert.equal(body['result'].authentication, 'CHALLENGE');
      const detail = body['detail'];
      assert.equal(detail.message, 'Enter the OTP from the Email');
      assert.deepEqual(detail.messages, ['Enter the OTP from the Email']);
      assert.deepEqual(detail.transaction_ids, [detail.transaction_id]);
      assert.equal(detail.multi_challenge.length, 1);
      const [challenge] = detail.multi_challenge;
      assert.equal(challenge.transaction_id, detail.transaction_id);
      assert.equal(challenge.serial, serial);
      assert.equal(challenge.type, 'email');
      assert.equal(challenge.client_mode, 'interactive');
      assert.equal(detail.preferred_client_mode, 'interactive');
      assert.equal(challenge.attributes.state, null);
      // SPEC B.8: valid_until is ISO 8601 with a zone, 120 s (the default validity) ahead.
      assert.match(challenge.attributes.valid_until, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}\+00:00$/);
      assert.equal(Date.parse(challenge.attributes.valid_until) - t.clock.nowMilliseconds(), 120_000);
      assert.equal(detail.serial, serial);
      assert.equal(typeof detail.threadid, 'number');
      await t.sink!.nextMail(email);
    });

    it('flow 3 with `state`: the RADIUS State alias answers the challenge', async () => {
      const { tid, otp } = await trigger();
      const body = await check({ user: login, state: tid, pass: otp });
      assert.equal(body['result'].authentication, 'ACCEPT');
      assert.deepEqual(body['detail'], { message: 'Found matching challenge', serial, threadid: body['detail'].threadid });
    });

    it('flow 3 by serial: transaction_id + code with the serial instead of the user', async () => {
      const { tid, otp } = await trigger();
      const body = await check({ serial, transaction_id: tid, pass: otp });
      assert.equal(body['result'].authentication, 'ACCEPT');
    });

    it('flow 4: a wrong code for a transaction is rejected, counted, and the challenge stays open for a retry', async () => {
      const { tid, otp } = await trigger();
      const body = await check({ user: login, transaction_id: tid, pass: wrongCode(otp) });
      assert.equal(body['result'].authentication, 'REJECT');
      assert.equal(body['result'].value, false);
      assert.equal(body['detail'].message, 'Response did not match the challenge.');
      assert.equal(body['detail'].serial, serial);
      assert.equal(body['detail'].type, 'email');
      assert.equal('transaction_id' in body['detail'], false, 'a REJECT must not carry a transaction_id (the PAM module would loop)');
      assert.equal((await token())['failcount'], 1);
      const retry = await check({ user: login, transaction_id: tid, pass: otp });
      assert.equal(retry['result'].authentication, 'ACCEPT');
      assert.equal((await token())['failcount'], 0, 'a success resets the fail counter');
    });

    it('flow 5: an unknown transaction id is rejected as "wrong otp pin"', async () => {
      const body = await check({ user: login, transaction_id: '12345678901234567890', pass: '123456' });
      assert.equal(body['result'].authentication, 'REJECT');
      assert.equal(body['detail'].message, 'wrong otp pin');
    });

    it('flow 5: an expired challenge is rejected on the transaction path', async () => {
      const { tid, otp } = await trigger();
      t.clock.advance(120_001);
      const body = await check({ user: login, transaction_id: tid, pass: otp });
      assert.equal(body['result'].authentication, 'REJECT');
      assert.equal(body['detail'].message, 'wrong otp pin');
    });

    it('flow 2 honours expiry too: PIN + an expired code is rejected (privacyIDEA issue #496)', async () => {
      const { otp } = await trigger();
      t.clock.advance(120_001);
      const body = await check({ user: login, pass: `1234${otp}` });
      assert.equal(body['result'].authentication, 'REJECT');
    });

    it('uses the configured email.validtime', async () => {
      await t.call('/system/setConfig', { params: { 'email.validtime': 30 } });
      try {
        const { tid, otp } = await trigger();
        t.clock.advance(30_001);
        assert.equal((await check({ user: login, transaction_id: tid, pass: otp }))['result'].authentication, 'REJECT');
      } finally {
        await t.call('/system/setConfig', { params: { 'email.validtime': 120 } });
      }
    });

    it('flow 6: the right PIN with a wrong code is "wrong otp value" and counted', async () => {
      const { otp } = await trigger();
      const body = await check({ user: login, pass: `1234${wrongCode(otp)}` });
      assert.equal(body['result'].authentication, 'REJECT');
      assert.equal(body['detail'].message, 'wrong otp value');
      assert.equal(body['detail'].otplen, 6);
      assert.equal(body['detail'].serial, serial);
      assert.equal((await token())['failcount'], 1);
    });

    it('flow 7: a wrong PIN is "wrong otp pin", counted, and sends no mail', async () => {
      const before = t.sink!.mails.length;
      const body = await check({ user: login, pass: '9999' });
      assert.equal(body['result'].authentication, 'REJECT');
      assert.equal(body['detail'].message, 'wrong otp pin');
      assert.equal((await token())['failcount'], 1);
      assert.equal(t.sink!.mails.length, before);
    });

    it('the guess budget: after 3 wrong answers even the right code is refused', async () => {
      const { tid, otp } = await trigger();
      for (let attempt = 0; attempt < 3; attempt += 1) {
        assert.equal((await check({ user: login, transaction_id: tid, pass: wrongCode(otp) }))['result'].authentication, 'REJECT');
      }
      const body = await check({ user: login, transaction_id: tid, pass: otp });
      assert.equal(body['result'].authentication, 'REJECT');
    });

    it('flow 8: at maxfail the token is refused even with the right PIN and code, until /token/reset', async () => {
      await t.call(`/token/set/${serial}`, { params: { max_failcount: 3 } });
      for (let attempt = 0; attempt < 5; attempt += 1) await check({ user: login, pass: '0000' });
      assert.equal((await token())['failcount'], 3, 'the counter stops at maxfail');
      const before = t.sink!.mails.length;
      const locked = await check({ user: login, pass: '1234' });
      assert.equal(locked['result'].authentication, 'REJECT');
      assert.equal(locked['detail'].message, 'Failcounter exceeded');
      assert.equal(t.sink!.mails.length, before, 'a locked token gets no mail');
      const reset = await t.json(`/token/reset/${serial}`, { params: {} });
      assert.equal(reset['result'].value, 1);
      const { tid, otp } = await trigger();
      assert.equal((await check({ user: login, transaction_id: tid, pass: otp }))['result'].authentication, 'ACCEPT');
    });

    it('flow 8: a right code is refused once the token hit maxfail after the challenge was sent', async () => {
      await t.call(`/token/set/${serial}`, { params: { max_failcount: 2 } });
      const { tid, otp } = await trigger();
      await check({ user: login, pass: '0000' });
      await check({ user: login, pass: '0000' });
      const body = await check({ user: login, transaction_id: tid, pass: otp });
      assert.equal(body['result'].authentication, 'REJECT');
      assert.equal(body['detail'].message, 'Failcounter exceeded');
    });

    it('flow 8: a disabled token answers "Token is disabled" and sends nothing; enabling brings it back', async () => {
      assert.equal((await t.json(`/token/disable/${serial}`, { params: {} }))['result'].value, 1);
      const before = t.sink!.mails.length;
      const body = await check({ user: login, pass: '1234' });
      assert.equal(body['result'].authentication, 'REJECT');
      assert.equal(body['detail'].message, 'Token is disabled');
      assert.equal(t.sink!.mails.length, before);
      assert.equal((await t.json(`/token/enable/${serial}`, { params: {} }))['result'].value, 1);
      await trigger();
    });

    it('a challenge of a token disabled meanwhile cannot be answered', async () => {
      const { tid, otp } = await trigger();
      await t.call(`/token/disable/${serial}`, { params: {} });
      const body = await check({ user: login, transaction_id: tid, pass: otp });
      assert.equal(body['result'].authentication, 'REJECT');
      assert.equal(body['detail'].message, 'Token is disabled');
    });

    it('a user without tokens: 200, value false, "The user has no tokens assigned"', async () => {
      await t.call('/user/', { params: { user: `${login}-bare`, email: 'bare@example.test' } });
      const response = await t.call('/validate/check', { params: { user: `${login}-bare`, pass: '1234' }, token: false });
      assert.equal(response.statusCode, 200);
      assert.equal(response.json().result.value, false);
      assert.equal(response.json().detail.message, 'The user has no tokens assigned');
    });

    it('an unknown user: 400, ERR904', async () => {
      const response = await t.call('/validate/check', { params: { user: 'nobody', pass: '1234' }, token: false });
      assert.equal(response.statusCode, 400);
      assert.equal(response.json().result.status, false);
      assert.equal(response.json().result.error.code, 904);
      assert.equal(response.json().result.error.message, 'ERR904: User <nobody@default> does not exist.');
    });

    it('user@realm names the realm; an explicit realm parameter works too', async () => {
      assert.equal((await check({ user: `${login}@default`, pass: '1234' }))['result'].authentication, 'CHALLENGE');
      await t.sink!.nextMail(email);
      assert.equal((await check({ user: login, realm: 'default', pass: '1234' }))['result'].authentication, 'CHALLENGE');
      await t.sink!.nextMail(email);
    });

    it('neither user nor serial: 400 ERR905 with privacyIDEA\'s text', async () => {
      const response = await t.call('/validate/check', { params: { pass: '1234' }, token: false });
      assert.equal(response.statusCode, 400);
      assert.equal(response.json().result.error.code, 905);
      assert.equal(response.json().result.error.message, 'ERR905: You need to specify a serial, user or credential_id.');
    });

    it('a serial that is not the user\'s: 400 "Given serial does not belong to given user!"', async () => {
      await enrolUser(t, { login: `${login}-other`, email: 'other@example.test', pin: '5555', serial: `OTHER${userCount}` });
      const response = await t.call('/validate/check', { params: { user: login, serial: `OTHER${userCount}`, pass: '5555' }, token: false });
      assert.equal(response.statusCode, 400);
      assert.equal(response.json().result.error.message, 'ERR905: Given serial does not belong to given user!');
    });

    it('GET works like POST (query string)', async () => {
      const body = await t.json(`/validate/check?user=${login}&pass=1234`, { method: 'GET', token: false });
      assert.equal(body['result'].authentication, 'CHALLENGE');
      await t.sink!.nextMail(email);
    });

    it('several tokens of one user share one transaction id, each with its own code', async () => {
      await t.call('/token/init', { params: { type: 'email', user: login, pin: '1234', email: `second-${email}`, serial: `SECOND${userCount}` } });
      const body = await check({ user: login, pass: '1234' });
      assert.equal(body['result'].authentication, 'CHALLENGE');
      assert.equal(body['detail'].multi_challenge.length, 2);
      assert.equal(new Set(body['detail'].multi_challenge.map((entry: any) => entry.transaction_id)).size, 1);
      const first = otpFromMail(await t.sink!.nextMail(email));
      const second = otpFromMail(await t.sink!.nextMail(`second-${email}`));
      const accepted = await check({ user: login, transaction_id: body['detail'].transaction_id, pass: second });
      assert.equal(accepted['result'].authentication, 'ACCEPT');
      assert.equal(accepted['detail'].serial, `SECOND${userCount}`);
      void first;
    });

    it('/validate/triggerchallenge (admin) mails without a PIN; value is the number of challenges', async () => {
      const body = await t.json('/validate/triggerchallenge', { params: { user: login } });
      assert.equal(body['result'].value, 1);
      assert.equal(body['result'].authentication, 'CHALLENGE');
      const otp = otpFromMail(await t.sink!.nextMail(email));
      assert.equal((await check({ user: login, transaction_id: body['detail'].transaction_id, pass: otp }))['result'].authentication, 'ACCEPT');
      const unauthenticated = await t.call('/validate/triggerchallenge', { params: { user: login }, token: false });
      assert.equal(unauthenticated.statusCode, 401);
      assert.equal(unauthenticated.json().result.error.code, 4033);
    });

    it('triggering never counts as a failed authentication', async () => {
      await trigger();
      await trigger();
      assert.equal((await token())['failcount'], 0);
    });
  });
}

import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { DATABASES } from '../../support/databases.js';
import { otpFromMail } from '../../support/smtp-sink.js';
import { enrolUser, startTestApp, type TestApp } from '../../support/test-app.js';
import { check, failcount, mailsTo, SEND_LIMITED, setMaxFail, tally } from './abuse-support.js';

/** n copies of one request, all in flight at once. */
function parallel(count: number, request: (index: number) => Promise<Record<string, any>>): Promise<Array<Record<string, any>>> {
  return Promise.all(Array.from({ length: count }, (_unused, index) => request(index)));
}

/** A code of the right length that is not `otp`. */
function wrongCode(otp: string, index: number): string {
  const candidate = String((Number(otp) + 1 + index) % 1_000_000).padStart(6, '0');
  return candidate === otp ? String((Number(otp) + 500_000) % 1_000_000).padStart(6, '0') : candidate;
}

for (const database of DATABASES) {
  describe(`${database}: counters hold under parallel requests`, () => {
    let t: TestApp;
    before(async () => {
      // The client throttle would refuse most of a burst from one address; here the token's own counters are on trial.
      t = await startTestApp({ database, settings: { 'validate.failure_rate_client': '100000/1' } });
    });
    after(async () => t.close());

    async function challenge(login: string): Promise<{ transactionId: string; otp: string }> {
      const body = await check(t, { user: login, pass: '1234' });
      assert.equal(body['result'].authentication, 'CHALLENGE');
      const mails = await mailsTo(t, `${login}@example.test`);
      return { transactionId: body['detail'].transaction_id as string, otp: otpFromMail(mails.at(-1)!) };
    }

    it('100 parallel wrong PINs leave the fail counter at exactly maxfail (10)', async () => {
      const serial = await enrolUser(t, { login: 'race_a', email: 'race_a@example.test', pin: '1234' });
      const answers = await parallel(100, () => check(t, { user: 'race_a', pass: '0000' }));
      assert.deepEqual(tally(answers), { REJECT: 100 });
      assert.equal(await failcount(t, serial), 10);
    });

    it('100 parallel wrong answers by transaction_id leave the fail counter at exactly maxfail (10)', async () => {
      const serial = await enrolUser(t, { login: 'race_b', email: 'race_b@example.test', pin: '1234' });
      const { transactionId, otp } = await challenge('race_b');
      const answers = await parallel(100, (index) => check(t, { user: 'race_b', transaction_id: transactionId, pass: wrongCode(otp, index) }));
      assert.deepEqual(tally(answers), { REJECT: 100 });
      assert.equal(await failcount(t, serial), 10);
    });

    it('50 parallel right answers by transaction_id give exactly one ACCEPT', async () => {
      const serial = await enrolUser(t, { login: 'race_c', email: 'race_c@example.test', pin: '1234' });
      const { transactionId, otp } = await challenge('race_c');
      const answers = await parallel(50, () => check(t, { user: 'race_c', transaction_id: transactionId, pass: otp }));
      assert.deepEqual(tally(answers), { ACCEPT: 1, REJECT: 49 });
      const token = (await t.json('/token/', { params: { serial }, method: 'GET' }))['result'].value.tokens[0];
      assert.equal(token.count, 1, 'one successful authentication recorded');
    });

    it('50 parallel right PIN+OTP answers give exactly one ACCEPT', async () => {
      await enrolUser(t, { login: 'race_d', email: 'race_d@example.test', pin: '1234' });
      const { otp } = await challenge('race_d');
      const answers = await parallel(50, () => check(t, { user: 'race_d', pass: `1234${otp}` }));
      assert.deepEqual(tally(answers), { ACCEPT: 1, REJECT: 49 });
    });

    it('20 parallel wrong answers to one challenge never spend more than its 3 guesses, and the right code is refused after', async () => {
      const serial = await enrolUser(t, { login: 'race_e', email: 'race_e@example.test', pin: '1234' });
      // A high maxfail, so the refusal below is the challenge's guess budget and not a locked token.
      await setMaxFail(t, serial, 100);
      const { transactionId, otp } = await challenge('race_e');
      await parallel(20, (index) => check(t, { user: 'race_e', transaction_id: transactionId, pass: wrongCode(otp, index) }));
      const row = await t.composed.database.db.selectFrom('challenge').select(['wrong_count', 'max_wrong_count', 'used_at']).where('transaction_id', '=', transactionId).executeTakeFirstOrThrow();
      assert.equal(row.max_wrong_count, 3);
      assert.equal(row.wrong_count, 3);
      assert.equal(await failcount(t, serial), 20);
      const late = await check(t, { user: 'race_e', transaction_id: transactionId, pass: otp });
      assert.equal(late['result'].authentication, 'REJECT');
      const latePinOtp = await check(t, { user: 'race_e', pass: `1234${otp}` });
      assert.equal(latePinOtp['result'].authentication, 'REJECT');
    });
  });

  describe(`${database}: a send bucket holds under parallel takes (email.rate_client "10/600")`, () => {
    let t: TestApp;
    const USERS = 50;
    before(async () => {
      t = await startTestApp({ database, settings: { 'email.rate_client': '10/600' } });
      for (let index = 0; index < USERS; index += 1) await enrolUser(t, { login: `burst${index}`, email: `burst${index}@example.test`, pin: '1234' });
    });
    after(async () => t.close());

    it('lets exactly 10 of 50 parallel PIN-only requests from one client mail a code', async () => {
      const answers = await parallel(USERS, (index) => check(t, { user: `burst${index}`, pass: '1234' }, '198.51.100.77'));
      assert.deepEqual(tally(answers), { CHALLENGE: 10, REJECT: 40 });
      assert.ok(answers.filter((body) => body['result'].authentication === 'REJECT').every((body) => body['detail'].message === SEND_LIMITED));
      await mailsTo(t, 'nobody@example.test');
      assert.equal(t.sink!.mails.length, 10);
    });
  });
}

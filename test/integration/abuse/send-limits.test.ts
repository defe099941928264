import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { DATABASES } from '../../support/databases.js';
import { enrolUser, startTestApp, type TestApp } from '../../support/test-app.js';
import { check, failcount, mailsTo, SEND_LIMITED } from './abuse-support.js';

function assertLimited(body: Record<string, any>): void {
  assert.equal(body['result'].status, true);
  assert.equal(body['result'].value, false);
  assert.equal(body['result'].authentication, 'REJECT');
  assert.equal(body['detail'].message, SEND_LIMITED);
  assert.equal(body['detail'].transaction_id, undefined);
}

for (const database of DATABASES) {
  describe(`${database}: per-user send limit (email.rate_user "2/600")`, () => {
    let t: TestApp;
    before(async () => {
      t = await startTestApp({ database, settings: { 'email.rate_user': '2/600' } });
    });
    after(async () => t.close());

    it('answers the third PIN-only request 200 REJECT with a clear message, sends nothing, and allows one more after 300 s', async () => {
      const serial = await enrolUser(t, { login: 'vera', email: 'vera@example.test', pin: '1234' });
      assert.equal((await check(t, { user: 'vera', pass: '1234' }))['result'].authentication, 'CHALLENGE');
      assert.equal((await check(t, { user: 'vera', pass: '1234' }))['result'].authentication, 'CHALLENGE');
      assertLimited(await check(t, { user: 'vera', pass: '1234' }));
      assert.equal((await mailsTo(t, 'vera@example.test')).length, 2);
      t.clock.advance(299_000);
      assertLimited(await check(t, { user: 'vera', pass: '1234' }));
      t.clock.advance(1_000);
      assert.equal((await check(t, { user: 'vera', pass: '1234' }))['result'].authentication, 'CHALLENGE');
      assertLimited(await check(t, { user: 'vera', pass: '1234' }));
      assert.equal((await mailsTo(t, 'vera@example.test')).length, 3);
      assert.equal(await failcount(t, serial), 0, 'a limited request is no failed authentication');
    });

    it('answers /validate/triggerchallenge (admin) 429 with Retry-After and the privacyIDEA error body', async () => {
      await enrolUser(t, { login: 'walt', email: 'walt@example.test', pin: '1234' });
      for (let index = 0; index < 2; index += 1) assert.equal((await t.call('/validate/triggerchallenge', { params: { user: 'walt' } })).statusCode, 200);
      const refused = await t.call('/validate/triggerchallenge', { params: { user: 'walt' } });
      assert.equal(refused.statusCode, 429);
      assert.equal(refused.headers['retry-after'], '300');
      const body = refused.json();
      assert.equal(body.result.status, false);
      assert.equal(body.result.error.code, 303);
      assert.match(body.result.error.message, /300 seconds/);
      assert.equal((await mailsTo(t, 'walt@example.test')).length, 2);
    });
  });

  describe(`${database}: a weekly send limit (email.rate_user "2/604800") across the daily clean-up`, () => {
    let t: TestApp;
    before(async () => {
      t = await startTestApp({ database, settings: { 'email.rate_user': '2/604800' } });
    });
    after(async () => t.close());

    it('still holds a day later: the clean-up deletes only buckets idle for the longest window, which are full again', async () => {
      await enrolUser(t, { login: 'wilma', email: 'wilma@example.test', pin: '1234' });
      assert.equal((await check(t, { user: 'wilma', pass: '1234' }))['result'].authentication, 'CHALLENGE');
      assert.equal((await check(t, { user: 'wilma', pass: '1234' }))['result'].authentication, 'CHALLENGE');
      assertLimited(await check(t, { user: 'wilma', pass: '1234' }));
      // A day and an hour: 0.3 of a mail refilled, and the worker's clean-up (every minute) has run since.
      t.clock.advance(25 * 3_600_000);
      await t.composed.worker.drain();
      assertLimited(await check(t, { user: 'wilma', pass: '1234' }));
      // Half a week refills one mail.
      t.clock.advance(302_400_000 - 25 * 3_600_000);
      await t.composed.worker.drain();
      assert.equal((await check(t, { user: 'wilma', pass: '1234' }))['result'].authentication, 'CHALLENGE');
      assertLimited(await check(t, { user: 'wilma', pass: '1234' }));
    });
  });

  describe(`${database}: per-address send limit (email.rate_address "2/600")`, () => {
    let t: TestApp;
    before(async () => {
      t = await startTestApp({ database, settings: { 'email.rate_address': '2/600' } });
    });
    after(async () => t.close());

    it('counts every user whose token mails the same address, however the address is spelt', async () => {
      await enrolUser(t, { login: 'xena', email: 'shared@example.test', pin: '1234' });
      await enrolUser(t, { login: 'yuri', email: 'Shared@Example.TEST', pin: '1234' });
      await enrolUser(t, { login: 'zoe', email: 'zoe@example.test', pin: '1234' });
      assert.equal((await check(t, { user: 'xena', pass: '1234' }))['result'].authentication, 'CHALLENGE');
      assert.equal((await check(t, { user: 'yuri', pass: '1234' }))['result'].authentication, 'CHALLENGE');
      assertLimited(await check(t, { user: 'yuri', pass: '1234' }));
      assertLimited(await check(t, { user: 'xena', pass: '1234' }));
      assert.equal((await check(t, { user: 'zoe', pass: '1234' }))['result'].authentication, 'CHALLENGE', 'other addresses unaffected');
    });
  });

  describe(`${database}: per-client send limit (email.rate_client "2/600")`, () => {
    let t: TestApp;
    before(async () => {
      t = await startTestApp({ database, settings: { 'email.rate_client': '2/600' } });
    });
    after(async () => t.close());

    it('limits one client IP across users, and leaves other clients alone', async () => {
      for (const login of ['amy', 'ben', 'cal', 'dan']) await enrolUser(t, { login, email: `${login}@example.test`, pin: '1234' });
      assert.equal((await check(t, { user: 'amy', pass: '1234' }, '198.51.100.1'))['result'].authentication, 'CHALLENGE');
      assert.equal((await check(t, { user: 'ben', pass: '1234' }, '198.51.100.1'))['result'].authentication, 'CHALLENGE');
      assertLimited(await check(t, { user: 'cal', pass: '1234' }, '198.51.100.1'));
      assert.equal((await check(t, { user: 'cal', pass: '1234' }, '198.51.100.2'))['result'].authentication, 'CHALLENGE');
      assert.equal((await check(t, { user: 'dan', pass: '1234' }, '2001:db8::7'))['result'].authentication, 'CHALLENGE');
      assert.equal((await mailsTo(t, 'cal@example.test')).length, 1);
    });
  });

  describe(`${database}: global send limit (email.rate_global "3/60")`, () => {
    let t: TestApp;
    before(async () => {
      t = await startTestApp({ database, settings: { 'email.rate_global': '3/60' } });
    });
    after(async () => t.close());

    it('limits all sends together, whoever and wherever from, until a unit refills (20 s)', async () => {
      for (const login of ['eve', 'fay', 'gus', 'hal']) await enrolUser(t, { login, email: `${login}@example.test`, pin: '1234' });
      assert.equal((await check(t, { user: 'eve', pass: '1234' }, '198.51.100.1'))['result'].authentication, 'CHALLENGE');
      assert.equal((await check(t, { user: 'fay', pass: '1234' }, '198.51.100.2'))['result'].authentication, 'CHALLENGE');
      assert.equal((await check(t, { user: 'gus', pass: '1234' }, '198.51.100.3'))['result'].authentication, 'CHALLENGE');
      assertLimited(await check(t, { user: 'hal', pass: '1234' }, '198.51.100.4'));
      const admin = await t.call('/validate/triggerchallenge', { params: { user: 'hal' } });
      assert.equal(admin.statusCode, 429);
      assert.equal(admin.headers['retry-after'], '20');
      t.clock.advance(20_000);
      assert.equal((await check(t, { user: 'hal', pass: '1234' }, '198.51.100.4'))['result'].authentication, 'CHALLENGE');
      assert.equal((await mailsTo(t, 'hal@example.test')).length, 1);
    });
  });
}

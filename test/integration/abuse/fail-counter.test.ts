import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { DATABASES } from '../../support/databases.js';
import { enrolUser, startTestApp, type TestApp } from '../../support/test-app.js';
import { check, failcount, mailsTo, reauthenticate, setConfig, setMaxFail, tally, THROTTLED } from './abuse-support.js';

for (const database of DATABASES) {
  describe(`${database}: triggering a mail never counts as a failed authentication`, () => {
    let t: TestApp;
    before(async () => {
      t = await startTestApp({ database });
    });
    after(async () => t.close());

    it('leaves failcount 0 after many PIN-only requests, sent, limited and reused ones alike', async () => {
      const serial = await enrolUser(t, { login: 'ida', email: 'ida@example.test', pin: '1234' });
      const sent = [];
      for (let index = 0; index < 15; index += 1) sent.push(await check(t, { user: 'ida', pass: '1234' }));
      assert.deepEqual(tally(sent), { CHALLENGE: 10, REJECT: 5 }, 'the default 10/600 per user limited the last five');
      await setConfig(t, { 'email.resend_after': 30 });
      const reused = [];
      for (let index = 0; index < 10; index += 1) reused.push(await check(t, { user: 'ida', pass: '1234' }));
      assert.deepEqual(tally(reused), { CHALLENGE: 10 });
      assert.equal(new Set(reused.map((body) => body['detail'].transaction_id)).size, 1);
      assert.equal(await failcount(t, serial), 0);
      assert.equal((await mailsTo(t, 'ida@example.test')).length, 10);
    });
  });

  describe(`${database}: failcounter_clear_timeout`, () => {
    let t: TestApp;
    before(async () => {
      t = await startTestApp({ database, settings: { failcounter_clear_timeout: 5 } });
    });
    after(async () => t.close());

    it('unlocks a token 5 minutes after the failure that locked it, not before', async () => {
      const serial = await enrolUser(t, { login: 'jon', email: 'jon@example.test', pin: '1234' });
      await setMaxFail(t, serial, 3);
      for (let index = 0; index < 3; index += 1) assert.equal((await check(t, { user: 'jon', pass: '0000' }))['detail'].message, 'wrong otp pin');
      assert.equal(await failcount(t, serial), 3);
      const locked = await check(t, { user: 'jon', pass: '1234' });
      assert.equal(locked['result'].authentication, 'REJECT');
      assert.equal(locked['detail'].message, 'Failcounter exceeded');
      t.clock.advance(4 * 60_000);
      assert.equal((await check(t, { user: 'jon', pass: '1234' }))['detail'].message, 'Failcounter exceeded');
      t.clock.advance(60_000 + 1_000);
      const unlocked = await check(t, { user: 'jon', pass: '1234' });
      assert.equal(unlocked['result'].authentication, 'CHALLENGE');
      assert.equal(await failcount(t, serial), 0);
    });

    it('never unlocks by itself with failcounter_clear_timeout 0', async () => {
      await setConfig(t, { failcounter_clear_timeout: 0 });
      const serial = await enrolUser(t, { login: 'kim', email: 'kim@example.test', pin: '1234' });
      await setMaxFail(t, serial, 3);
      for (let index = 0; index < 3; index += 1) await check(t, { user: 'kim', pass: '0000' });
      t.clock.advance(30 * 24 * 3_600_000);
      await reauthenticate(t);
      assert.equal((await check(t, { user: 'kim', pass: '1234' }))['detail'].message, 'Failcounter exceeded');
      assert.equal(await failcount(t, serial), 3);
    });
  });

  describe(`${database}: client failure throttling (validate.failure_rate_client "5/60")`, () => {
    let t: TestApp;
    before(async () => {
      t = await startTestApp({ database, settings: { 'validate.failure_rate_client': '5/60' } });
    });
    after(async () => t.close());

    it('refuses a client after 5 failures, even with the right PIN, before touching the token; another client still works', async () => {
      const serial = await enrolUser(t, { login: 'lea', email: 'lea@example.test', pin: '1234' });
      const A = '198.51.100.10';
      for (let index = 0; index < 5; index += 1) assert.equal((await check(t, { user: 'lea', pass: '0000' }, A))['detail'].message, 'wrong otp pin');
      for (const pass of ['1234', '0000']) {
        const throttled = await check(t, { user: 'lea', pass }, A);
        assert.equal(throttled['result'].authentication, 'REJECT');
        assert.equal(throttled['result'].value, false);
        assert.equal(throttled['detail'].message, THROTTLED);
      }
      assert.equal(await failcount(t, serial), 5, 'throttled requests never reach the fail counter');
      assert.equal((await check(t, { user: 'lea', pass: '1234' }, '198.51.100.11'))['result'].authentication, 'CHALLENGE');
      t.clock.advance(12_000);
      assert.equal((await check(t, { user: 'lea', pass: '0000' }, A))['detail'].message, 'wrong otp pin', 'one unit refilled after 12 s');
      assert.equal((await check(t, { user: 'lea', pass: '1234' }, A))['detail'].message, THROTTLED);
      assert.equal(await failcount(t, serial), 6);
    });

    it('ignores X-Forwarded-For from a client when no proxy is trusted', async () => {
      await enrolUser(t, { login: 'max', email: 'max@example.test', pin: '1234' });
      const spoofer = '198.51.100.20';
      for (let index = 0; index < 5; index += 1) await check(t, { user: 'max', pass: '0000' }, spoofer, { 'x-forwarded-for': `203.0.113.${index}` });
      const body = await check(t, { user: 'max', pass: '1234' }, spoofer, { 'x-forwarded-for': '203.0.113.99' });
      assert.equal(body['detail'].message, THROTTLED);
    });
  });

  describe(`${database}: client failure throttling behind a trusted proxy (MAILOTP_TRUST_PROXY=127.0.0.1)`, () => {
    let t: TestApp;
    before(async () => {
      t = await startTestApp({ database, env: { MAILOTP_TRUST_PROXY: '127.0.0.1' }, settings: { 'validate.failure_rate_client': '2/60' } });
    });
    after(async () => t.close());

    it('throttles the client named by the proxy, not the proxy itself', async () => {
      await enrolUser(t, { login: 'ned', email: 'ned@example.test', pin: '1234' });
      const viaProxy = (client: string, pass: string): Promise<Record<string, any>> => check(t, { user: 'ned', pass }, '127.0.0.1', { 'x-forwarded-for': client });
      await viaProxy('203.0.113.1', '0000');
      await viaProxy('203.0.113.1', '0000');
      assert.equal((await viaProxy('203.0.113.1', '1234'))['detail'].message, THROTTLED);
      assert.equal((await viaProxy('203.0.113.2', '1234'))['result'].authentication, 'CHALLENGE');
    });
  });
}

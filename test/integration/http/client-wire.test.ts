import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { DATABASES } from '../../support/databases.js';
import { otpFromMail } from '../../support/smtp-sink.js';
import { enrolUser, startTestApp, type TestApp } from '../../support/test-app.js';

/** Perl URI::Encode with encode_reserved => 0: RFC 3986 reserved characters stay, the rest is %-escaped. */
function uriEncodeKeepingReserved(value: string): string {
  return [...Buffer.from(value, 'utf8')]
    .map((byte) => {
      const char = String.fromCharCode(byte);
      return /[A-Za-z0-9\-._~!*'();:@&=+$,/?#[\]]/.test(char) && byte < 0x80 ? char : `%${byte.toString(16).toUpperCase().padStart(2, '0')}`;
    })
    .join('');
}

function form(params: Record<string, string>): string {
  return new URLSearchParams(params).toString();
}

function multipart(params: Record<string, string>): { body: string; contentType: string } {
  const boundary = '----mailotp-test-boundary-7MA4YWxkTrZu0gW';
  const parts = Object.entries(params).map(([name, value]) => `--${boundary}\r\nContent-Disposition: form-data; name="${name}"\r\n\r\n${value}\r\n`);
  return { body: `${parts.join('')}--${boundary}--\r\n`, contentType: `multipart/form-data; boundary=${boundary}` };
}

// A PIN with everything that breaks naive decoding: %, +, space, &, = and non-ASCII.
const HARD_PIN = 'p%41s+ w&rd=ä';

for (const database of DATABASES) {
  describe(`${database}: what real privacyIDEA clients send`, () => {
    let t: TestApp;
    const email = 'wire@example.test';

    const post = async (payload: string, headers: Record<string, string>): Promise<Record<string, any>> => {
      const response = await t.app.inject({ method: 'POST', url: '/validate/check', payload, headers });
      assert.equal(response.statusCode, 200, response.body);
      return response.json();
    };

    before(async () => {
      t = await startTestApp({ database });
      // privacyIDEA decodes form values of admin calls a second time too, so the exact PIN goes in as JSON.
      await t.call('/user/', { json: { user: 'wire', email } });
      const init = await t.call('/token/init', { json: { type: 'email', user: 'wire', pin: HARD_PIN, email, serial: 'WIRE1' } });
      assert.equal(init.statusCode, 200, init.body);
      await enrolUser(t, { login: 'plain', email: 'plain@example.test', pin: 'secret77', serial: 'PLAIN1' });
    });
    after(async () => t.close());

    it('FreeRADIUS: user and pass URI-encoded, then form-encoded again, with the State attribute as `state`', async () => {
      const headers = { 'content-type': 'application/x-www-form-urlencoded', 'user-agent': 'FreeRADIUS' };
      const first = await post(form({ user: uriEncodeKeepingReserved('wire'), pass: uriEncodeKeepingReserved(HARD_PIN), client: '10.0.0.1', resConf: '' }), headers);
      assert.equal(first['result'].authentication, 'CHALLENGE');
      const otp = otpFromMail(await t.sink!.nextMail(email));
      const second = await post(form({ user: 'wire', pass: uriEncodeKeepingReserved(otp), state: first['detail'].transaction_id }), headers);
      assert.equal(second['result'].value, true);
    });

    it('the PHP client / simpleSAMLphp: multipart/form-data, encoded once, not decoded again', async () => {
      const { body, contentType } = multipart({ user: 'wire', pass: HARD_PIN });
      const first = await post(body, { 'content-type': contentType, 'user-agent': 'simpleSAMLphp' });
      assert.equal(first['result'].authentication, 'CHALLENGE');
      // php-client 2.x declares PIChallenge::$attributes a string and throws on privacyIDEA's object.
      assert.equal(first['detail'].multi_challenge[0].attributes, null);
      const otp = otpFromMail(await t.sink!.nextMail(email));
      const answer = multipart({ user: 'wire', pass: otp, transaction_id: first['detail'].transaction_id });
      const second = await post(answer.body, { 'content-type': answer.contentType, 'user-agent': 'simpleSAMLphp' });
      assert.equal(second['result'].authentication, 'ACCEPT');
    });

    it('a FreeRADIUS user name that still holds a % after the second decode: ERR905 Invalid user.', async () => {
      const response = await t.app.inject({
        method: 'POST', url: '/validate/check', payload: form({ user: uriEncodeKeepingReserved('b%b'), pass: '1' }),
        headers: { 'content-type': 'application/x-www-form-urlencoded', 'user-agent': 'FreeRADIUS' },
      });
      assert.equal(response.statusCode, 400);
      assert.deepEqual(response.json().result.error, { code: 905, message: 'ERR905: Invalid user.' });
    });

    it('other clients keep privacyIDEA\'s attributes object in challenges', async () => {
      const first = await post(form({ user: 'plain', pass: 'secret77' }), { 'content-type': 'application/x-www-form-urlencoded', 'user-agent': 'PAM/1.1.0' });
      assert.equal(first['detail'].multi_challenge[0].attributes.state, null);
      assert.equal(typeof first['detail'].multi_challenge[0].attributes.valid_until, 'string');
      await t.sink!.nextMail('plain@example.test');
    });

    it('the Windows credential provider: form-encoded once; its user agent is exempt from the second decode', async () => {
      const first = await post(form({ user: 'wire', pass: HARD_PIN }), {
        'content-type': 'application/x-www-form-urlencoded',
        'user-agent': 'privacyidea-cp/3.6.0 Windows/DESKTOP-1',
      });
      assert.equal(first['result'].authentication, 'CHALLENGE');
      await t.sink!.nextMail(email);
    });

    it('the same once-encoded PIN from other clients is decoded a second time, as privacyIDEA does', async () => {
      // "%41" becomes "A" in the second decode, so HARD_PIN sent once-encoded no longer matches.
      const body = await post(form({ user: 'wire', pass: HARD_PIN }), { 'content-type': 'application/x-www-form-urlencoded', 'user-agent': 'PAM/1.1.0' });
      assert.equal(body['result'].authentication, 'REJECT');
      assert.equal(body['detail'].message, 'wrong otp pin');
      await t.call('/token/reset/WIRE1', { params: {} });
    });

    it('the PAM module: form-encoded once, value always a JSON boolean', async () => {
      const headers = { 'content-type': 'application/x-www-form-urlencoded', 'user-agent': 'PAM/1.1.0' };
      const first = await post(form({ user: 'plain', pass: 'secret77' }), headers);
      assert.equal(first['result'].value, false);
      const otp = otpFromMail(await t.sink!.nextMail('plain@example.test'));
      const second = await post(form({ user: 'plain', pass: otp, transaction_id: first['detail'].transaction_id }), headers);
      assert.equal(second['result'].value, true);
      assert.equal(typeof second['result'].value, 'boolean');
    });

    it('JSON bodies are taken as sent, never decoded a second time', async () => {
      const first = await post(JSON.stringify({ user: 'wire', pass: HARD_PIN }), { 'content-type': 'application/json', 'user-agent': 'curl/8.0' });
      assert.equal(first['result'].authentication, 'CHALLENGE');
      await t.sink!.nextMail(email);
    });

    it('the JSON body wins over the query string', async () => {
      const response = await t.app.inject({
        method: 'POST',
        url: '/validate/check?user=wire&pass=wrong',
        payload: JSON.stringify({ pass: HARD_PIN }),
        headers: { 'content-type': 'application/json' },
      });
      assert.equal(response.json().result.authentication, 'CHALLENGE');
      await t.sink!.nextMail(email);
    });

    it('the admin JWT is accepted raw in PI-Authorization or Authorization, and as a Bearer token', async () => {
      for (const headers of [{ 'pi-authorization': t.adminToken }, { authorization: t.adminToken }, { authorization: `Bearer ${t.adminToken}` }]) {
        const response = await t.app.inject({ method: 'GET', url: '/token/?serial=WIRE1', headers });
        assert.equal(response.statusCode, 200);
        assert.equal(response.json().result.value.count, 1);
      }
    });

    it('the JWT payload decodes with the standard Base64 alphabet (the Java client does that)', () => {
      const payload = t.adminToken.split('.')[1]!;
      assert.doesNotMatch(payload, /[-_]/);
      const claims = JSON.parse(Buffer.from(payload, 'base64').toString('utf8'));
      assert.equal(claims.role, 'admin');
      assert.equal(typeof claims.exp, 'number');
    });
  });
}

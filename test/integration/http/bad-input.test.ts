import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { LightMyRequestResponse } from 'fastify';
import { DATABASES } from '../../support/databases.js';
import { snapshotDatabase } from '../../support/snapshot.js';
import { enrolUser, startTestApp, type TestApp } from '../../support/test-app.js';

const PIN = 'pin-Zq81xw';

/** A privacyIDEA-style error: status false, integer code, text message, our stable code, no stack, no secret. */
function assertCleanError(response: LightMyRequestResponse, httpStatus: number, piCode: number, errorCode: string): void {
  assert.equal(response.statusCode, httpStatus, response.body);
  assert.match(response.headers['content-type'] as string, /^application\/json/);
  assert.equal(response.headers['cache-control'], 'no-store');
  assert.equal(response.headers['x-content-type-options'], 'nosniff');
  const body = response.json();
  assert.equal(body.jsonrpc, '2.0');
  assert.equal(body.result.status, false);
  assert.equal(body.result.error.code, piCode);
  assert.equal(typeof body.result.error.message, 'string');
  assert.equal(body.detail.error_code, errorCode);
  assert.doesNotMatch(response.body, /\bat [\w.<>]+ \(|node_modules|\.ts:\d+|\.js:\d+/, 'no stack trace');
  assert.ok(!response.body.includes(PIN), 'no PIN');
}

for (const database of DATABASES) {
  describe(`${database}: bad input gets a clear error and changes nothing`, () => {
    let t: TestApp;
    let serial: string;

    /** Sends the request and proves the database is byte-for-byte what it was. */
    const unchanged = async (send: () => Promise<LightMyRequestResponse>): Promise<LightMyRequestResponse> => {
      const before = await snapshotDatabase(t.composed.database.db);
      const response = await send();
      assert.deepEqual(await snapshotDatabase(t.composed.database.db), before, 'stored state changed');
      return response;
    };
    const raw = (method: 'POST' | 'GET', url: string, payload: string | Buffer, contentType: string, auth = true) =>
      t.app.inject({ method, url, payload, headers: { 'content-type': contentType, ...(auth ? { authorization: t.adminToken } : {}) } });

    before(async () => {
      t = await startTestApp({ database });
      serial = await enrolUser(t, { login: 'alice', email: 'alice@example.test', pin: PIN });
    });
    after(async () => t.close());

    it('malformed JSON: 400 ERR905', async () => {
      const response = await unchanged(() => raw('POST', '/validate/check', '{"user": "alice", "pass": ', 'application/json', false));
      assertCleanError(response, 400, 905, 'REQUEST_MALFORMED');
    });

    it('a JSON array instead of an object: 400', async () => {
      const response = await unchanged(() => raw('POST', '/token/init', '[1,2,3]', 'application/json'));
      assertCleanError(response, 400, 905, 'REQUEST_MALFORMED');
    });

    it('a 10 MB body: 413, refused before it is parsed', async () => {
      const huge = `user=alice&pass=${'1'.repeat(10 * 1024 * 1024)}`;
      const response = await unchanged(() => raw('POST', '/validate/check', huge, 'application/x-www-form-urlencoded', false));
      assertCleanError(response, 413, 905, 'REQUEST_TOO_LARGE');
    });

    it('a 10 MB JSON body to an admin endpoint: 413', async () => {
      const response = await unchanged(() => raw('POST', '/system/setConfig', JSON.stringify({ 'email.text': 'x'.repeat(10 * 1024 * 1024) }), 'application/json'));
      assertCleanError(response, 413, 905, 'REQUEST_TOO_LARGE');
    });

    it('wrong types: an object as pass, a word as otplen, a list as a setting', async () => {
      assertCleanError(await unchanged(() => raw('POST', '/validate/check', JSON.stringify({ user: 'alice', pass: { $ne: '' } }), 'application/json', false)), 400, 905, 'PARAMETER_INVALID');
      assertCleanError(await unchanged(() => t.call('/token/init', { json: { type: 'email', user: 'alice', email: 'a@example.test', otplen: 'six' } })), 400, 905, 'PARAMETER_INVALID');
      assertCleanError(await unchanged(() => t.call('/system/setConfig', { json: { 'email.port': [25] } })), 400, 905, 'SETTING_INVALID');
      assertCleanError(await unchanged(() => t.call('/system/setConfig', { json: { 'email.port': 70000 } })), 400, 905, 'SETTING_INVALID');
      assertCleanError(await unchanged(() => t.call('/system/setConfig', { json: { 'email.tls': 'maybe' } })), 400, 905, 'SETTING_INVALID');
    });

    it('one bad key in a setConfig batch writes none of the good ones', async () => {
      const response = await unchanged(() => t.call('/system/setConfig', { json: { 'email.mailserver': 'smtp.example.test', 'email.validtime': 'soon' } }));
      assertCleanError(response, 400, 905, 'SETTING_INVALID');
    });

    it('unknown parameters and unknown settings are refused, not ignored', async () => {
      assertCleanError(await unchanged(() => t.call('/validate/check', { params: { user: 'alice', pass: PIN, pasword: 'x' }, token: false })), 400, 905, 'PARAMETER_UNKNOWN');
      assertCleanError(await unchanged(() => t.call('/token/init', { params: { type: 'email', user: 'alice', email: 'a@example.test', otplength: 8 } })), 400, 905, 'PARAMETER_UNKNOWN');
      assertCleanError(await unchanged(() => t.call('/system/setConfig', { params: { 'email.mailservr': 'x' } })), 400, 905, 'SETTING_UNKNOWN');
    });

    it('SQL-ish strings are just strings', async () => {
      const response = await unchanged(() => t.call('/validate/check', { params: { user: "alice' OR '1'='1", pass: "' OR 1=1 --" }, token: false }));
      assertCleanError(response, 400, 904, 'USER_NOT_FOUND');
      const listed = await unchanged(() => t.call('/token/', { method: 'GET', params: { serial: "x' OR '1'='1" } }));
      assert.equal(listed.json().result.value.count, 0);
      const wildcard = await unchanged(() => t.call('/token/', { method: 'GET', params: { serial: '%' } }));
      assert.equal(wildcard.json().result.value.count, 0, '% is not a wildcard; only * is');
    });

    it('a NUL byte or an over-long value is refused', async () => {
      assertCleanError(await unchanged(() => t.call('/validate/check', { json: { user: 'alice\u0000', pass: 'x' }, token: false })), 400, 905, 'PARAMETER_INVALID');
      assertCleanError(await unchanged(() => t.call('/validate/check', { json: { user: 'alice', pass: 'x'.repeat(5000) }, token: false })), 400, 905, 'PARAMETER_INVALID');
    });

    it('an unknown token type: ERR1610', async () => {
      const response = await unchanged(() => t.call('/token/init', { params: { type: 'totp', user: 'alice' } }));
      assertCleanError(response, 400, 1610, 'TOKEN_TYPE_UNKNOWN');
      assert.equal(response.json().result.error.message, 'ERR1610: init token failed. Unknown token type: totp');
    });

    it('an email token without an email address: ERR905 Missing parameter: email', async () => {
      const response = await unchanged(() => t.call('/token/init', { params: { type: 'email', user: 'alice', pin: '1' } }));
      assertCleanError(response, 400, 905, 'TOKEN_NO_EMAIL');
      assert.equal(response.json().result.error.message, 'ERR905: Missing parameter: email');
    });

    it('deleting an unknown token: 404, code 601', async () => {
      const response = await unchanged(() => t.call('/token/NOPE123', { method: 'DELETE' }));
      assertCleanError(response, 404, 601, 'TOKEN_NOT_FOUND');
      assert.equal(response.json().result.error.message, 'No token found for serials: NOPE123');
    });

    it('admin endpoints without, with a forged, or with an expired JWT: 401', async () => {
      assertCleanError(await unchanged(() => t.call('/token/', { method: 'GET', token: false })), 401, 4033, 'AUTH_REQUIRED');
      const [header, payload] = t.adminToken.split('.');
      assertCleanError(await unchanged(() => t.call('/token/', { method: 'GET', token: `${header}.${payload}.forged` })), 401, 4304, 'AUTH_TOKEN_INVALID');
      t.clock.advance(3601 * 1000);
      try {
        assertCleanError(await unchanged(() => t.call('/token/', { method: 'GET' })), 401, 4305, 'AUTH_TOKEN_EXPIRED');
      } finally {
        t.clock.advance(-3601 * 1000);
      }
    });

    it('wrong admin credentials: 401 4031; a missing username: 401 4032', async () => {
      const wrong = await t.call('/auth', { params: { username: 'admin', password: 'nope' }, token: false });
      assertCleanError(wrong, 401, 4031, 'AUTH_WRONG_CREDENTIALS');
      assert.equal(wrong.json().result.error.message, 'Authentication failure. Wrong credentials');
      assertCleanError(await t.call('/auth', { params: { password: 'nope' }, token: false }), 401, 4032, 'AUTH_NO_USERNAME');
    });

    it('an unknown route: 404 in the same envelope', async () => {
      assertCleanError(await unchanged(() => t.call('/validate/nothing', { token: false })), 404, 601, 'ROUTE_NOT_FOUND');
    });

    it('an unsupported content type: 415', async () => {
      assertCleanError(await unchanged(() => raw('POST', '/validate/check', '<xml/>', 'application/xml', false)), 415, 905, 'REQUEST_UNSUPPORTED_MEDIA');
    });

    it('a file upload in a multipart body is refused', async () => {
      const boundary = 'b0undary';
      const body = `--${boundary}\r\nContent-Disposition: form-data; name="user"\r\n\r\nalice\r\n--${boundary}\r\nContent-Disposition: form-data; name="file"; filename="a.txt"\r\nContent-Type: text/plain\r\n\r\nhello\r\n--${boundary}--\r\n`;
      const response = await unchanged(() => raw('POST', '/validate/check', body, `multipart/form-data; boundary=${boundary}`, false));
      assert.ok(response.statusCode === 413 || response.statusCode === 400, `got ${response.statusCode}`);
      assert.equal(response.json().result.status, false);
    });

    it('the token stayed usable through all of this', async () => {
      const token = (await t.json('/token/', { method: 'GET', params: { serial } }))['result'].value.tokens[0];
      assert.equal(token.failcount, 0);
      assert.equal(token.active, true);
    });
  });
}

import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { DATABASES } from '../../support/databases.js';
import { unusedPort } from '../../support/raw-tcp.js';
import { otpFromMail, startSmtpSink, type SmtpSink } from '../../support/smtp-sink.js';
import { enrolUser, startTestApp, type TestApp } from '../../support/test-app.js';

const CREDENTIALS = Object.freeze({ username: 'relay-user', password: 'Relay-Passw0rd-5d21' });
const WRONG_PASSWORD = 'Not-The-Passw0rd-77e0';
const PIN = '1234';
const MAIL_FAILED = 'The PIN was correct, but the EMail could not be sent!';

for (const database of DATABASES) {
  describe(`${database}: mail settings over HTTP`, () => {
    let t: TestApp;
    /** The app's own sink: offers STARTTLS and requires AUTH. */
    let secure: SmtpSink;
    let implicit: SmtpSink;
    let plain: SmtpSink;
    let deadPort: number;
    let userCount = 0;

    /** A fresh user with an email token; returns their address. */
    async function newUser(options: { givenname?: string; serial?: string } = {}): Promise<{ login: string; email: string; serial: string }> {
      userCount += 1;
      const login = `user${userCount}`;
      const email = `${login}@example.test`;
      const serial = await enrolUser(t, { login, email, pin: PIN, ...options });
      return { login, email, serial };
    }

    async function setConfig(params: Record<string, string | number | boolean>): Promise<void> {
      const response = await t.call('/system/setConfig', { params });
      assert.equal(response.statusCode, 200, response.body);
    }

    async function saveServer(identifier: string, params: Record<string, string | number | boolean>): Promise<void> {
      const response = await t.call(`/smtpserver/${identifier}`, { params: { sender: `${identifier}@mailotp.test`, timeout: 5, ...params } });
      assert.equal(response.statusCode, 200, response.body);
    }

    async function check(login: string): Promise<Record<string, any>> {
      const response = await t.call('/validate/check', { params: { user: login, pass: PIN }, token: false });
      assert.equal(response.statusCode, 200, response.body);
      return response.json() as Record<string, any>;
    }

    function assertMailFailed(body: Record<string, any>): void {
      assert.equal(body['result'].status, true);
      assert.equal(body['result'].value, false);
      assert.equal(body['result'].authentication, 'REJECT');
      assert.equal(body['detail'].message, MAIL_FAILED);
      assert.equal('transaction_id' in body['detail'], false, 'no transaction_id for a code nobody received');
    }

    before(async () => {
      t = await startTestApp({ database, smtp: { offersStartTls: true, credentials: CREDENTIALS } });
      secure = t.sink!;
      implicit = await startSmtpSink({ isImplicitTls: true, credentials: CREDENTIALS });
      plain = await startSmtpSink();
      deadPort = await unusedPort();
      // The seed document's keys, email.sender being privacyIDEA's other name for email.mailfrom.
      await setConfig({
        'email.mailserver': '127.0.0.1',
        'email.port': secure.port,
        'email.username': CREDENTIALS.username,
        'email.password': CREDENTIALS.password,
        'email.sender': 'system-sender@mailotp.test',
        'email.tls': true,
        'email.validtime': 300,
      });
      await saveServer('secure', { server: '127.0.0.1', port: secure.port, username: CREDENTIALS.username, password: CREDENTIALS.password, tls: true });
      await saveServer('implicit', { server: 'smtps://127.0.0.1', port: implicit.port, username: CREDENTIALS.username, password: CREDENTIALS.password });
      await saveServer('up', { server: '127.0.0.1', port: plain.port });
      await saveServer('down', { server: '127.0.0.1', port: deadPort, timeout: 2 });
      await saveServer('badpass', { server: '127.0.0.1', port: secure.port, username: CREDENTIALS.username, password: WRONG_PASSWORD, tls: true });
    });
    after(async () => {
      await t.close();
      await implicit.close();
      await plain.close();
    });

    describe('the email.* settings', () => {
      it('send the OTP mail authenticated over STARTTLS, from the email.sender address', async () => {
        const user = await newUser();
        const body = await check(user.login);
        assert.equal(body['result'].authentication, 'CHALLENGE');
        const mail = await secure.nextMail(user.email);
        assert.equal(mail.isSecure, true);
        assert.equal(mail.authUser, CREDENTIALS.username);
        assert.equal(mail.from, 'system-sender@mailotp.test');
      });

      it('write a default mail with the code and its validity in seconds', async () => {
        const user = await newUser();
        const challenge = await check(user.login);
        const mail = await secure.nextMail(user.email);
        assert.match(mail.text, /valid for 300 seconds/);
        const otp = otpFromMail(mail);
        const answer = await t.json('/validate/check', {
          params: { user: user.login, transaction_id: challenge['detail'].transaction_id, pass: otp },
          token: false,
        });
        assert.equal(answer['result'].authentication, 'ACCEPT', 'the number in the mail is the code');
      });
    });

    describe('named SMTP servers', () => {
      after(async () => setConfig({ 'email.identifier': '' }));

      it('deliver through the server named by email.identifier, with its credentials and sender', async () => {
        await setConfig({ 'email.identifier': 'secure' });
        const user = await newUser();
        await check(user.login);
        const mail = await secure.nextMail(user.email);
        assert.deepEqual([mail.isSecure, mail.authUser, mail.from], [true, CREDENTIALS.username, 'secure@mailotp.test']);
      });

      it('speak implicit TLS to an smtps:// server on any port', async () => {
        await setConfig({ 'email.identifier': 'implicit' });
        const user = await newUser();
        assert.equal((await check(user.login))['result'].authentication, 'CHALLENGE');
        const mail = await implicit.nextMail(user.email);
        assert.deepEqual([mail.isSecure, mail.authUser], [true, CREDENTIALS.username]);
      });

      it('show the password censored and keep it when __CENSORED__ is posted back', async () => {
        const listed = await t.json('/smtpserver/');
        assert.equal(listed['result'].value['secure'].password, '__CENSORED__');
        assert.doesNotMatch(JSON.stringify(listed), new RegExp(CREDENTIALS.password));
        await saveServer('secure', {
          server: '127.0.0.1', port: secure.port, username: CREDENTIALS.username, password: '__CENSORED__', tls: true,
          sender: 'resaved@mailotp.test',
        });
        await setConfig({ 'email.identifier': 'secure' });
        const user = await newUser();
        await check(user.login);
        const mail = await secure.nextMail(user.email);
        // The new sender proves the save happened; the AUTH proves the stored password survived it.
        assert.deepEqual([mail.from, mail.authUser], ['resaved@mailotp.test', CREDENTIALS.username]);
      });

      it('answer REJECT without a transaction_id when the SMTP password is wrong (email.send_mode=sync)', async () => {
        await setConfig({ 'email.identifier': 'badpass', 'email.send_mode': 'sync' });
        const user = await newUser();
        const attemptsBefore = secure.authAttempts.length;
        const response = await t.call('/validate/check', { params: { user: user.login, pass: PIN }, token: false });
        assertMailFailed(response.json() as Record<string, any>);
        assert.deepEqual(secure.authAttempts.slice(attemptsBefore).map((attempt) => attempt.isAccepted), [false]);
        assert.doesNotMatch(response.body, new RegExp(WRONG_PASSWORD));
        assert.doesNotMatch(JSON.stringify(await t.composed.deps.store.audit.list(1000)), new RegExp(WRONG_PASSWORD));
        assert.equal(secure.mails.some((mail) => mail.to.includes(user.email)), false);
      });

      it('answer REJECT without a transaction_id when the SMTP server is down (email.send_mode=sync)', async () => {
        await setConfig({ 'email.identifier': 'down', 'email.send_mode': 'sync' });
        const user = await newUser();
        assertMailFailed(await check(user.login));
        await setConfig({ 'email.send_mode': 'async' });
      });

      it('fail over to the next server of a comma-separated email.identifier', async () => {
        await setConfig({ 'email.identifier': 'down,up' });
        const user = await newUser();
        assert.equal((await check(user.login))['result'].authentication, 'CHALLENGE');
        const mail = await plain.nextMail(user.email);
        assert.equal(mail.from, 'up@mailotp.test');
      });

      it('prefer a token\'s own email.identifier to the system one', async () => {
        await setConfig({ 'email.identifier': 'secure' });
        const user = await newUser();
        const set = await t.json(`/token/info/${user.serial}/email.identifier`, { params: { value: 'implicit' } });
        assert.equal(set['result'].value, true);
        await check(user.login);
        await implicit.nextMail(user.email);
        assert.equal(secure.mails.some((mail) => mail.to.includes(user.email)), false);
      });
    });

    describe('POST /smtpserver/send_test_email', () => {
      it('answers true and delivers through a live server', async () => {
        const body = await t.json('/smtpserver/send_test_email', { params: { identifier: 'up', recipient: 'tester@example.test' } });
        assert.equal(body['result'].value, true);
        const mail = await plain.nextMail('tester@example.test');
        assert.equal(mail.from, 'up@mailotp.test');
      });

      it('answers false for a server that is down', async () => {
        const body = await t.json('/smtpserver/send_test_email', { params: { identifier: 'down', recipient: 'tester@example.test' } });
        assert.equal(body['result'].status, true);
        assert.equal(body['result'].value, false);
      });

      it('answers false for wrong credentials, naming EAUTH but never the password', async () => {
        const response = await t.call('/smtpserver/send_test_email', { params: { identifier: 'badpass', recipient: 'tester@example.test' } });
        const body = response.json() as Record<string, any>;
        assert.equal(body['result'].value, false);
        assert.match(body['detail'].reason, /EAUTH 535/);
        assert.doesNotMatch(response.body, new RegExp(WRONG_PASSWORD));
      });
    });

    describe('mail templates', () => {
      after(async () => {
        await t.call('/system/email.subject', { method: 'DELETE' });
        await t.call('/system/email.text', { method: 'DELETE' });
      });

      it('render {otp} {serial} {givenname} {validtime} into subject and text', async () => {
        await setConfig({
          'email.subject': 'Code for {givenname} ({serial})',
          'email.text': 'Hello {givenname}, your code is {otp}; token {serial}; valid {validtime} s.',
        });
        const user = await newUser({ givenname: 'Trudy', serial: 'PIEM_TEMPLATE' });
        const challenge = await check(user.login);
        const mail = await secure.nextMail(user.email);
        assert.equal(mail.subject, 'Code for Trudy (PIEM_TEMPLATE)');
        const match = /^Hello Trudy, your code is (\d{6}); token PIEM_TEMPLATE; valid 300 s\.$/.exec(mail.text.trim());
        assert.ok(match, mail.text);
        const answer = await t.json('/validate/check', {
          params: { user: user.login, transaction_id: challenge['detail'].transaction_id, pass: match[1]! },
          token: false,
        });
        assert.equal(answer['result'].authentication, 'ACCEPT');
      });

      it('refuses an unknown tag at save with 905 and changes nothing', async () => {
        const before = (await t.json('/system/'))['result'].value;
        const response = await t.call('/system/setConfig', {
          params: { 'email.subject': 'A new subject', 'email.text': 'Your code {otp} {bogus}' },
        });
        assert.equal(response.statusCode, 400);
        const body = response.json() as Record<string, any>;
        assert.equal(body['result'].status, false);
        assert.equal(body['result'].error.code, 905);
        const afterwards = (await t.json('/system/'))['result'].value;
        assert.equal(afterwards['email.text'], before['email.text']);
        assert.equal(afterwards['email.subject'], before['email.subject']);
      });
    });
  });
}

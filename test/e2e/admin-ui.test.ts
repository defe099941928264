import assert from 'node:assert/strict';
import { request as httpRequest } from 'node:http';
import { after, before, describe, it } from 'node:test';
import type { Page } from 'playwright-core';
import { readSystemSettings } from '../../src/core/settings/system-settings.js';
import { pickResolver } from '../../src/core/users/user-service.js';
import { listenForBrowser, openBrowser, type BrowserSession } from '../support/browser.js';
import { otpFromMail } from '../support/smtp-sink.js';
import { ADMIN, startTestApp, type TestApp } from '../support/test-app.js';

const SCREENSHOT_PATH = process.env['MAILOTP_ADMIN_UI_SCREENSHOT'] ?? '/work/scratch/admin-ui-email.png';
const HOSTILE_NAME = '<img src=x onerror=window.__pwned=1>';

/** A raw GET whose path goes out byte for byte: fetch() and browsers would resolve the "..". */
function rawGet(baseUrl: string, path: string): Promise<{ status: number; body: string }> {
  const url = new URL(baseUrl);
  return new Promise((resolve, reject) => {
    const request = httpRequest({ host: url.hostname, port: url.port, path, method: 'GET' }, (response) => {
      const chunks: Buffer[] = [];
      response.on('data', (chunk: Buffer) => chunks.push(chunk));
      response.on('end', () => resolve({ status: response.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8') }));
    });
    request.on('error', reject);
    request.end();
  });
}

async function openEmailConfig(page: Page): Promise<void> {
  await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Config' }).click();
  await page.getByRole('navigation', { name: 'Configuration' }).getByRole('link', { name: 'Email' }).click();
  await page.getByRole('heading', { level: 1, name: 'Email token' }).waitFor();
}

describe('admin UI in headless Chromium (sqlite)', () => {
  let t: TestApp;
  let baseUrl: string;
  let session: BrowserSession;
  let page: Page;

  before(async () => {
    t = await startTestApp({ database: 'sqlite' });
    baseUrl = await listenForBrowser(t.app);
    session = await openBrowser();
    page = session.page;
  });
  after(async () => {
    await session?.close();
    await t?.close();
  });

  it('serves /admin/ with a strict CSP, no framing, no referrer and no caching', async () => {
    const response = await fetch(`${baseUrl}/admin/`);
    assert.equal(response.status, 200);
    assert.match(response.headers.get('content-type') ?? '', /^text\/html/);
    const csp = response.headers.get('content-security-policy') ?? '';
    assert.match(csp, /default-src 'self'/);
    assert.match(csp, /frame-ancestors 'none'/);
    assert.doesNotMatch(csp, /unsafe-inline|unsafe-eval/);
    assert.equal(response.headers.get('x-frame-options'), 'DENY');
    assert.equal(response.headers.get('referrer-policy'), 'no-referrer');
    assert.equal(response.headers.get('cache-control'), 'no-store');
    const html = await response.text();
    assert.doesNotMatch(html, /<script(?![^>]*\bsrc=)[^>]*>/, 'no inline script');
    assert.doesNotMatch(html, /<style|\sstyle=/, 'no inline style');
  });

  it('serves only files from the public folder, whatever the path says', async () => {
    const served = await rawGet(baseUrl, '/admin/views/tokens.js');
    assert.equal(served.status, 200, 'a real asset in a subfolder is served');
    for (const path of [
      '/admin/../package.json',
      '/admin/%2e%2e/package.json',
      '/admin/%2e%2e%2fpackage.json',
      '/admin/..%2f..%2f..%2fpackage.json',
      '/admin/views/../../../../package.json',
      '/admin/..%5c..%5c..%5cpackage.json',
      '/admin/%2e%2e/admin-ui-routes.ts',
      '/admin//etc/passwd',
      '/admin/%2fetc%2fpasswd',
    ]) {
      const response = await rawGet(baseUrl, path);
      assert.equal(response.status, 404, `${path} is not found`);
      assert.doesNotMatch(response.body, /"devDependencies"|root:|import type/, `${path} leaks no file`);
    }
  });

  it('logs in with the admin password and keeps the session in sessionStorage only', async () => {
    await page.goto(`${baseUrl}/admin/`);
    await page.getByLabel('Username').fill(ADMIN.username);
    await page.getByLabel('Password').fill('wrong password');
    await page.getByRole('button', { name: 'Log in' }).click();
    await page.getByRole('alert').filter({ hasText: 'Wrong credentials' }).waitFor();

    await page.getByLabel('Password').fill(ADMIN.password);
    await page.getByLabel('Password').press('Enter');
    await page.getByRole('heading', { level: 1, name: 'Tokens' }).waitFor();
    const storage = await page.evaluate(() => ({
      session: sessionStorage.length,
      local: localStorage.length,
      cookie: document.cookie,
    }));
    assert.deepEqual(storage, { session: 1, local: 0, cookie: '' });
  });

  it("saves the seed document's email settings from Config -> Tokens -> Email", async () => {
    await openEmailConfig(page);
    await page.getByLabel('Mail Server').fill('127.0.0.1');
    await page.getByLabel('Port').fill(String(t.sink!.port));
    await page.getByLabel('Mail User', { exact: true }).fill('otp-mailer');
    await page.getByLabel('Mail User Password').fill('s3cret smtp pass');
    await page.getByLabel('Mail Sender Address').fill('otp@example.test');
    await page.getByLabel('OTP validity time (seconds)').fill('300');
    await page.getByLabel('Use TLS').setChecked(false);
    await page.getByRole('button', { name: 'Save' }).click();
    await page.getByRole('status').filter({ hasText: 'The email settings were saved.' }).waitFor();

    const stored = (await t.json('/system/'))['result'].value;
    assert.deepEqual(
      {
        server: stored['email.mailserver'], port: stored['email.port'], user: stored['email.username'], password: stored['email.password'],
        from: stored['email.mailfrom'], validtime: stored['email.validtime'], tls: stored['email.tls'],
      },
      { server: '127.0.0.1', port: String(t.sink!.port), user: 'otp-mailer', password: '__CENSORED__', from: 'otp@example.test', validtime: '300', tls: 'false' },
    );
    const secrets = await readSystemSettings(t.composed.deps.store.settings, t.composed.deps.secretBox);
    assert.equal(secrets.mailPassword, 's3cret smtp pass');

    await page.reload();
    await page.getByRole('heading', { level: 1, name: 'Email token' }).waitFor();
    assert.equal(await page.getByLabel('Mail User Password').inputValue(), '');
    assert.equal(await page.getByLabel('Mail User', { exact: true }).inputValue(), 'otp-mailer');
    const anyFieldShowsMarker = await page.evaluate(() =>
      Array.from(document.querySelectorAll('input, textarea')).some((input) => (input as HTMLInputElement).value.includes('__CENSORED__')),
    );
    assert.equal(anyFieldShowsMarker, false);
    await page.screenshot({ path: SCREENSHOT_PATH, fullPage: true });
  });

  it('shows the server error beside the form for port 70000 and changes nothing', async () => {
    const before = (await t.json('/system/'))['result'].value;
    await page.getByLabel('Mail Server').fill('changed.example.test');
    await page.getByLabel('Port').fill('70000');
    await page.getByRole('button', { name: 'Save' }).click();
    const alert = page.getByRole('alert');
    await alert.filter({ hasText: 'email.port' }).waitFor();
    assert.match(await alert.innerText(), /Invalid value for email\.port: expected a whole number from 1 to 65535/);
    assert.equal(await page.getByLabel('Port').getAttribute('aria-invalid'), 'true');
    assert.equal(await page.evaluate(() => (document.activeElement as HTMLInputElement | null)?.name), 'email.port');
    assert.deepEqual((await t.json('/system/'))['result'].value, before);
  });

  it('keeps the stored password when its field is left empty', async () => {
    await page.getByLabel('Mail Server').fill('127.0.0.1');
    await page.getByLabel('Port').fill(String(t.sink!.port));
    await page.getByLabel('OTP validity time (seconds)').fill('240');
    await page.getByRole('button', { name: 'Save' }).click();
    await page.getByRole('status').filter({ hasText: 'The email settings were saved.' }).waitFor();
    const secrets = await readSystemSettings(t.composed.deps.store.settings, t.composed.deps.secretBox);
    assert.deepEqual({ validity: secrets.validitySeconds, password: secrets.mailPassword }, { validity: 240, password: 's3cret smtp pass' });
  });

  it('removes the stored password only when asked to', async () => {
    await page.getByLabel('Mail User', { exact: true }).fill('');
    await page.getByLabel('Remove the stored password').check();
    assert.equal(await page.getByLabel('Mail User Password').isDisabled(), true);
    await page.getByRole('button', { name: 'Save' }).click();
    await page.getByRole('status').filter({ hasText: 'The email settings were saved.' }).waitFor();
    const stored = (await t.json('/system/'))['result'].value;
    assert.deepEqual({ user: stored['email.username'], password: stored['email.password'] }, { user: '', password: '' });
    assert.equal(await page.getByLabel('Remove the stored password').count(), 0, 'nothing left to remove');
  });

  it('adds an SMTP server, keeps its password on edit and sends a test mail through it', async () => {
    await page.getByRole('navigation', { name: 'Configuration' }).getByRole('link', { name: 'SMTP servers' }).click();
    await page.getByRole('heading', { level: 1, name: 'SMTP servers' }).waitFor();
    const editor = page.getByRole('form', { name: 'Add an SMTP server' });
    await editor.getByLabel('Identifier').fill('relay');
    await editor.getByRole('textbox', { name: 'Server', exact: true }).fill('127.0.0.1');
    await editor.getByLabel('Port').fill(String(t.sink!.port));
    await editor.getByLabel('Password', { exact: true }).fill('relay pass');
    await editor.getByLabel('Sender address').fill('relay@example.test');
    await editor.getByRole('button', { name: 'Add server' }).click();
    await page.getByRole('status').filter({ hasText: 'The SMTP server "relay" was saved.' }).waitFor();

    await page.getByRole('button', { name: 'Edit relay' }).click();
    const edit = page.getByRole('form', { name: 'Edit SMTP server "relay"' });
    assert.equal(await edit.getByLabel('Password', { exact: true }).inputValue(), '');
    await edit.getByLabel('Description').fill('the test sink');
    await edit.getByRole('button', { name: 'Save changes' }).click();
    await page.getByRole('row', { name: /the test sink/ }).waitFor();
    const stored = await t.composed.deps.store.smtpServers.find('relay');
    assert.equal(t.composed.deps.secretBox.open(stored!.sealedPassword), 'relay pass');

    const test = page.getByRole('form', { name: 'Send a test mail' });
    await test.getByLabel('Recipient').fill('probe@example.test');
    await test.getByRole('button', { name: 'Send test mail' }).click();
    await test.getByRole('status').filter({ hasText: 'A test mail was sent to probe@example.test' }).waitFor();
    assert.equal((await t.sink!.nextMail('probe@example.test')).from, 'relay@example.test');
  });

  it('adds a user and enrols an email token for them that then works at /validate/check', async () => {
    await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Users' }).click();
    await page.getByRole('heading', { level: 1, name: 'Users' }).waitFor();
    await page.getByLabel('Username').fill('carol');
    await page.getByLabel('Email').fill('carol@example.test');
    await page.getByLabel('Given name').fill('Carol');
    await page.getByLabel('Surname').fill('Clark');
    await page.getByRole('button', { name: 'Add user' }).click();
    await page.getByRole('status').filter({ hasText: 'The user "carol" was added.' }).waitFor();
    await page.getByRole('row', { name: /carol/ }).waitFor();

    await page.getByRole('link', { name: 'Enrol token for carol' }).click();
    await page.getByRole('heading', { level: 1, name: 'Tokens' }).waitFor();
    assert.equal(await page.getByLabel('User', { exact: true }).inputValue(), 'carol');
    assert.equal(await page.getByLabel('Email address', { exact: true }).inputValue(), 'carol@example.test');
    await page.getByLabel('Description').fill('Carol laptop');
    await page.getByLabel('PIN', { exact: true }).fill('4711');
    await page.getByLabel('Repeat PIN').fill('4711');
    await page.getByRole('button', { name: 'Enrol token' }).click();
    const status = page.getByRole('status').filter({ hasText: 'was enrolled for carol' });
    await status.waitFor();
    const serial = /Token (\S+) was enrolled/.exec(await status.innerText())?.[1];
    assert.ok(serial, 'the page names the new serial');
    await page.getByRole('row', { name: new RegExp(serial) }).waitFor();

    const challenge = await t.json('/validate/check', { params: { user: 'carol', pass: '4711' }, token: false });
    assert.equal(challenge['result'].authentication, 'CHALLENGE');
    const mail = await t.sink!.nextMail('carol@example.test');
    assert.equal(mail.from, 'otp@example.test');
    const accepted = await t.json('/validate/check', {
      params: { user: 'carol', transaction_id: challenge['detail'].transaction_id, pass: otpFromMail(mail) },
      token: false,
    });
    assert.equal(accepted['result'].authentication, 'ACCEPT');
    assert.equal(accepted['detail'].serial, serial);
  });

  it('disables a token from the list', async () => {
    const row = page.getByRole('row', { name: /Carol laptop/ });
    await row.getByRole('button', { name: /^Disable/ }).click();
    await row.getByText('Disabled').waitFor();
    const tokens = (await t.json('/token/', { params: { user: 'carol' }, method: 'GET' }))['result'].value.tokens;
    assert.equal(tokens[0].active, false);
  });

  it('shows a hostile given name and token description as text and runs none of it', async () => {
    // The API refuses angle brackets in names, but a user store filled some other way (a migrated
    // privacyIDEA database) may hold them, so the row goes in through the store port.
    const resolver = await pickResolver(t.composed.deps, undefined);
    await t.composed.deps.store.users.insert({
      resolver, login: 'mallory', email: 'mallory@example.test', givenname: HOSTILE_NAME, surname: 'X', phone: '', mobile: '',
    });
    // Token descriptions are free text through the public API.
    const enrolled = await t.json('/token/init', { params: { type: 'email', user: 'mallory', pin: '1', email: 'mallory@example.test', description: HOSTILE_NAME } });
    assert.equal(enrolled['result'].status, true, JSON.stringify(enrolled['result']));

    await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Users' }).click();
    const userRow = page.getByRole('row', { name: /mallory/ });
    await userRow.waitFor();
    assert.equal(await userRow.getByRole('cell').first().innerText(), HOSTILE_NAME);

    await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Tokens' }).click();
    const tokenRow = page.getByRole('row', { name: /mallory/ });
    await tokenRow.waitFor();
    assert.equal(await tokenRow.getByRole('cell').nth(2).innerText(), HOSTILE_NAME);
    assert.match(await page.getByLabel('User', { exact: true }).locator('option', { hasText: 'mallory' }).innerText(), /<img src=x onerror/);

    assert.equal(await page.locator('main img').count(), 0, 'no <img> element was created from server data');
    assert.equal(await page.evaluate(() => (window as unknown as { __pwned?: number }).__pwned), undefined);
  });

  it('labels every form control and lets the keyboard cancel a delete', async () => {
    const unlabelled: string[] = [];
    for (const [section, heading] of [['Tokens', 'Tokens'], ['Users', 'Users'], ['Config', 'Email token']] as const) {
      await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: section }).click();
      await page.getByRole('heading', { level: 1, name: heading }).waitFor();
      unlabelled.push(...(await page.evaluate(() =>
        Array.from(document.querySelectorAll('main input, main select, main textarea'))
          .filter((control) => (control as HTMLInputElement).labels?.length === 0)
          .map((control) => control.outerHTML),
      )));
    }
    assert.deepEqual(unlabelled, []);

    await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Tokens' }).click();
    const row = page.getByRole('row', { name: /Carol laptop/ });
    await row.getByRole('button', { name: /^Delete/ }).focus();
    await page.keyboard.press('Enter');
    const dialog = page.getByRole('dialog', { name: 'Please confirm' });
    await dialog.waitFor();
    assert.equal(await page.evaluate(() => document.activeElement?.closest('dialog') !== null), true, 'focus moves into the dialog');
    await page.keyboard.press('Escape');
    await dialog.waitFor({ state: 'hidden' });
    const tokens = (await t.json('/token/', { params: { user: 'carol' }, method: 'GET' }))['result'].value.tokens;
    assert.equal(tokens.length, 1, 'Escape deleted nothing');
  });

  it('sends the admin back to the login with the reason when the session is refused', async () => {
    await page.evaluate(() => {
      const key = sessionStorage.key(0)!;
      sessionStorage.setItem(key, JSON.stringify({ ...JSON.parse(sessionStorage.getItem(key)!), token: 'forged.token.value' }));
    });
    await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Users' }).click();
    await page.getByRole('alert').filter({ hasText: 'Your token is invalid. Please log in again.' }).waitFor();
    assert.equal(await page.evaluate(() => sessionStorage.length), 0);
    await page.getByLabel('Username').fill(ADMIN.username);
    await page.getByLabel('Password').fill(ADMIN.password);
    await page.getByRole('button', { name: 'Log in' }).click();
    await page.getByRole('heading', { level: 1, name: 'Users' }).waitFor();
  });

  it('logs out and forgets the session', async () => {
    await page.getByRole('button', { name: 'Log out' }).click();
    await page.getByRole('button', { name: 'Log in' }).waitFor();
    assert.equal(await page.evaluate(() => sessionStorage.length), 0);
    await page.reload();
    await page.getByRole('button', { name: 'Log in' }).waitFor();
  });

  it('ran without script errors or CSP violations', () => {
    // 4xx answers the UI shows on purpose are logged by Chromium as failed loads; anything else is a bug.
    const problems = session.problems.filter((problem) => !/Failed to load resource: the server responded with a status of 4\d\d/.test(problem));
    assert.deepEqual(problems, []);
  });
});

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { tokenFixture } from '../../../test/support/fake-ports.js';
import { composeOtpMail } from '../challenges/compose-otp-mail.js';
import { OtpError } from '../errors.js';
import { checkTemplate, renderTemplate, TEMPLATE_TAGS, type TemplateValues } from './mail-template.js';
import type { SystemSettings } from './system-settings.js';

const VALUES: TemplateValues = Object.fromEntries(TEMPLATE_TAGS.map((tag) => [tag, `<${tag}>`])) as TemplateValues;

describe('checkTemplate', () => {
  it('accepts every known tag and plain text', () => {
    assert.doesNotThrow(() => checkTemplate('email.text', TEMPLATE_TAGS.map((tag) => `{${tag}}`).join(' ')));
    assert.doesNotThrow(() => checkTemplate('email.text', 'no tags at all'));
  });

  it('rejects an unknown tag with TEMPLATE_INVALID naming the key and the tag', () => {
    assert.throws(
      () => checkTemplate('email.subject', 'Code {otp} for {usr}'),
      (error: unknown) =>
        error instanceof OtpError &&
        error.code === 'TEMPLATE_INVALID' &&
        error.publicMessage === 'ERR905: Invalid template in email.subject: unknown tag {usr}',
    );
  });

  it('rejects an empty tag and a tag in the wrong case', () => {
    for (const template of ['{}', '{OTP}']) {
      assert.throws(() => checkTemplate('email.text', template), (error: unknown) => error instanceof OtpError && error.code === 'TEMPLATE_INVALID');
    }
  });
});

describe('renderTemplate', () => {
  it('replaces every known tag with its value', () => {
    assert.equal(renderTemplate('{otp} for {username}@{userrealm} ({serial})', VALUES), '<otp> for <username>@<userrealm> (<serial>)');
  });

  it('replaces a tag every time it occurs', () => {
    assert.equal(renderTemplate('{otp}-{otp}', VALUES), '<otp>-<otp>');
  });

  it('leaves text that is not a known tag alone', () => {
    assert.equal(renderTemplate('{nope} {toString} plain', VALUES), '{nope} {toString} plain');
  });

  it('does not expand tags that appear inside a value', () => {
    assert.equal(renderTemplate('{givenname}', { ...VALUES, givenname: '{otp} $& $1' }), '{otp} $& $1');
  });
});

describe('composeOtpMail', () => {
  const settings = {
    mailSubject: 'Code for {givenname}',
    mailText: 'Your code is {otp}, valid {validtime} s until {valid_until}',
    validitySeconds: 120,
  } as SystemSettings;
  const user = { resolver: 'local', id: '1', login: 'alice', email: 'alice@example.org', givenname: 'Alice', surname: 'A', phone: '', mobile: '' };
  const nowMilliseconds = Date.UTC(2026, 10, 26, 8, 0, 0);
  const input = {
    settings, token: tokenFixture(), user, realm: 'default', otp: '482915', challengeId: 'c0ffee',
    transactionId: '01234567890123456789', recipient: 'alice@example.org', sender: 'otp@mail.example.net',
    nowMilliseconds, expiresAt: nowMilliseconds + 120_000,
  };

  it('renders the subject and text from the templates and addresses the recipient', () => {
    const message = composeOtpMail(input);
    assert.equal(message.subject, 'Code for Alice');
    assert.equal(message.text, 'Your code is 482915, valid 120 s until 2026-11-26 08:02:00 UTC');
    assert.equal(message.to, 'alice@example.org');
    assert.equal(message.from, 'otp@mail.example.net');
    assert.equal(message.messageId, '<c0ffee@mail.example.net>');
  });

  it('turns line breaks in the subject into spaces, so no header can be injected', () => {
    const message = composeOtpMail({
      ...input,
      settings: { ...settings, mailSubject: 'Code\r\nBcc: evil@example.com\nfor {givenname}' },
      user: { ...user, givenname: 'Al\r\nX-Injected: 1' },
    });
    assert.doesNotMatch(message.subject, /[\r\n]/);
    assert.equal(message.subject, 'Code Bcc: evil@example.com for Al X-Injected: 1');
  });
});

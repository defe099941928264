import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import nodemailer from 'nodemailer';
import type { MailMessage } from '../core/ports.js';
import { buildRawMessage } from './raw-message.js';

const DATE = new Date('2026-11-26T09:40:16.000Z');

/** What nodemailer's own composer writes for the message, newlines as they go on the wire. */
async function composedByNodemailer(message: MailMessage, to: string): Promise<{ raw: string; envelope: unknown }> {
  const transport = nodemailer.createTransport({ streamTransport: true, buffer: true, newline: 'windows' });
  const info = await transport.sendMail({ from: message.from, to, subject: message.subject, text: message.text, messageId: message.messageId, date: DATE });
  return { raw: (info.message as Buffer).toString('utf8').replace(/\r?\n/g, '\r\n'), envelope: info.envelope };
}

/** Header fields (folded lines kept together) in sorted order, and the body: header order carries no meaning. */
function parts(raw: string): { headers: string[]; body: string } {
  const split = raw.indexOf('\r\n\r\n');
  return { headers: raw.slice(0, split).split(/\r\n(?![ \t])/).sort(), body: raw.slice(split + 4) };
}

const MESSAGES: Array<[string, MailMessage]> = [
  ['plain ASCII', { from: 'otp@example.test', to: 'alice@example.test', subject: 'Your OTP', text: 'Your one-time password is 123456\n\nIt is valid for 120 seconds.', messageId: '<c1@mailotp.test>' }],
  ['a display name and umlauts', { from: 'OTP Dienst <otp@example.test>', to: 'bob@example.test', subject: 'Ihr Einmalpasswort für den Zugang', text: 'Ihr Code: 654321\n\nGrüße, Ihr IT-Team', messageId: '<c2@mailotp.test>' }],
  ['a quoted display name', { from: '"Example, Inc. (IT)" <otp@example.test>', to: 'carol@example.test', subject: 'Code', text: 'Code 000111', messageId: '<c3@mailotp.test>' }],
  ['long lines and a long subject', {
    from: 'otp@example.test', to: 'dave@example.test',
    subject: `A very long subject line that goes on and on to make the header fold somewhere ${'x'.repeat(40)}`,
    text: `${'word '.repeat(40)}\r\ncode 777888\r\n.\r\n${'y'.repeat(120)}`, messageId: '<c4@mailotp.test>',
  }],
  ['non-Latin text and emoji', { from: 'Служба OTP <otp@example.test>', to: 'eve@example.test', subject: 'Ваш код 🔐', text: 'Ваш одноразовый пароль: 246810 ✅', messageId: '<c5@mailotp.test>' }],
];

describe('OTP mail built in one pass', () => {
  for (const [name, message] of MESSAGES) {
    it(`writes what nodemailer's composer writes: ${name}`, async () => {
      const built = buildRawMessage(message, message.to, DATE);
      assert.ok(built, 'built');
      const expected = await composedByNodemailer(message, message.to);
      assert.deepEqual(parts(built.raw), parts(expected.raw));
      assert.deepEqual(built.envelope, expected.envelope);
    });
  }

  it('keeps line breaks out of headers: a subject cannot add one', async () => {
    const built = buildRawMessage({ from: 'otp@example.test', to: 'x', subject: 'Hi\r\nBcc: victim@example.test', text: 'code 1234', messageId: '<c6@mailotp.test>' }, 'frank@example.test', DATE)!;
    const headers = built.raw.slice(0, built.raw.indexOf('\r\n\r\n')).split('\r\n');
    assert.ok(!headers.some((line) => /^bcc:/i.test(line)), headers.join('|'));
    assert.ok(headers.includes('Subject: Hi Bcc: victim@example.test'));
  });

  it('leaves to nodemailer what it does not build: HTML, international addresses, sender lists', () => {
    const base: MailMessage = { from: 'otp@example.test', to: 'x', subject: 's', text: 't', messageId: '<c7@mailotp.test>' };
    assert.equal(buildRawMessage({ ...base, html: '<p>t</p>' }, 'a@example.test', DATE), undefined);
    assert.equal(buildRawMessage(base, 'jörg@example.test', DATE), undefined);
    assert.equal(buildRawMessage(base, 'a@bücher.example', DATE), undefined);
    assert.equal(buildRawMessage({ ...base, from: 'otp@bücher.example' }, 'a@example.test', DATE), undefined);
    assert.equal(buildRawMessage({ ...base, from: 'a@example.test, b@example.test' }, 'a@example.test', DATE), undefined);
  });
});

import addressparser from 'nodemailer/lib/addressparser/index.js';
import mimeFuncs from 'nodemailer/lib/mime-funcs/index.js';
import base64 from 'nodemailer/lib/base64/index.js';
import qp from 'nodemailer/lib/qp/index.js';
import type { MailMessage } from '../core/ports.js';

/** An address nodemailer would pass through unchanged: printable ASCII, no IDN to convert, no SMTPUTF8. */
const PLAIN_ADDRESS = /^[\x21-\x7e]+@[\x21-\x7e]+$/;

export interface RawMessage {
  envelope: { from: string; to: string[] };
  raw: string;
}

/** A header value on one line: line breaks would start a header of the value's choosing. */
function oneLine(value: string): string {
  return value.replace(/\r?\n|\r/g, ' ');
}

/** nodemailer's choice for non-ASCII text: quoted-printable for mostly Latin letters, else base64. */
function textEncoding(value: string): 'Q' | 'B' {
  const nonLatin = (value.match(/[\x00-\x08\x0B\x0C\x0E-\x1F\u0080-\uFFFF]/g) ?? []).length;
  const latin = (value.match(/[a-z]/gi) ?? []).length;
  return nonLatin < latin ? 'Q' : 'B';
}

/** A header value with its non-ASCII words encoded, the whole value as nodemailer does (some clients need it). */
function encodedWords(value: string): string {
  if (mimeFuncs.isPlainText(value)) return value;
  return (mimeFuncs.encodeWords as (value: string, encoding: 'Q' | 'B', maxLength: number, encodeAll: boolean) => string)(value, textEncoding(value), 52, true);
}

/** As nodemailer writes a display name: bare if it is only word characters, quoted if ASCII, else encoded. */
function displayName(name: string): string {
  if (!mimeFuncs.isPlainText(name)) return encodedWords(name);
  return /^[\w ']*$/.test(name) ? name : `"${name.replace(/([\\"])/g, '\\$1')}"`;
}

function header(key: string, value: string): string {
  return `${mimeFuncs.foldLines(`${key}: ${value}`, 76)}\r\n`;
}

/**
 * The OTP mail as nodemailer's composer would write it - the same headers, encodings and folding - built
 * in one pass. nodemailer builds a MIME tree, normalises every header key and streams the parts through
 * transforms for each mail; for a one-part text mail that was about a tenth of the event loop's time per
 * full flow. Undefined when the mail is anything else (HTML, an address that needs IDN or SMTPUTF8): the
 * caller then lets nodemailer compose it.
 */
export function buildRawMessage(message: MailMessage, to: string, date: Date): RawMessage | undefined {
  if (message.html !== undefined) return undefined;
  const senders = addressparser(oneLine(message.from), { flatten: true });
  const sender = senders[0];
  if (senders.length !== 1 || !sender || !PLAIN_ADDRESS.test(sender.address) || !PLAIN_ADDRESS.test(to)) return undefined;
  const subject = oneLine(message.subject);
  const text = message.text.replace(/\r?\n|\r/g, '\r\n');
  const encoding = mimeFuncs.isPlainText(text) && !mimeFuncs.hasLongerLines(text, 76) ? '7bit' : textEncoding(text) === 'Q' ? 'quoted-printable' : 'base64';
  const body = encoding === '7bit' ? text : encoding === 'quoted-printable' ? qp.wrap(qp.encode(text), 76) : base64.wrap(base64.encode(Buffer.from(text)), 76);
  const raw =
    header('From', sender.name ? `${displayName(sender.name)} <${sender.address}>` : sender.address) +
    header('To', to) +
    header('Subject', encodedWords(subject)) +
    header('Message-ID', oneLine(message.messageId)) +
    header('Content-Transfer-Encoding', encoding) +
    header('Date', date.toUTCString().replace(/GMT/, '+0000')) +
    'MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n' +
    `${body}\r\n`;
  return { envelope: { from: sender.address, to: [to] }, raw };
}

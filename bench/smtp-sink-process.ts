import { SMTPServer } from 'smtp-server';
import type { AddressInfo } from 'node:net';
import { wallClockMs } from './latency.js';

/**
 * The benchmark's SMTP sink, in its own process so its parsing does not share the load driver's event
 * loop. For every mail it reports recipient, code and the moment the DATA was fully received (just
 * before it answers 250) to the parent over IPC. No mailparser: the OTP line is plain ASCII, and a
 * full MIME parse per mail would steal CPU from the server under test on a 2-core machine.
 */
export interface SinkMail {
  to: string[];
  otp: string | undefined;
  receivedAtMs: number;
}

function bodyText(raw: string): string {
  const split = raw.indexOf('\r\n\r\n');
  const headers = split >= 0 ? raw.slice(0, split) : '';
  const body = split >= 0 ? raw.slice(split + 4) : raw;
  if (/^content-transfer-encoding:\s*base64/im.test(headers)) return Buffer.from(body.replace(/\s+/g, ''), 'base64').toString('utf8');
  return body.replace(/=\r?\n/g, ''); // undo quoted-printable soft line breaks; digits are never escaped
}

const server = new SMTPServer({
  authOptional: true,
  hideSTARTTLS: true,
  disabledCommands: ['AUTH', 'STARTTLS'],
  logger: false,
  closeTimeout: 1000,
  onData(stream, session, callback) {
    const chunks: Buffer[] = [];
    stream.on('data', (chunk: Buffer) => chunks.push(chunk));
    stream.on('end', () => {
      const receivedAtMs = wallClockMs();
      const match = /\b(\d{4,10})\b/.exec(bodyText(Buffer.concat(chunks).toString('latin1')));
      const mail: SinkMail = { to: session.envelope.rcptTo.map((rcpt) => rcpt.address), otp: match?.[1], receivedAtMs };
      process.send!(mail);
      callback();
    });
  },
});
server.on('error', () => undefined);
server.listen(0, '127.0.0.1', () => {
  const port = ((server as unknown as { server: { address(): AddressInfo } }).server.address()).port;
  process.send!({ port });
});
process.on('disconnect', () => process.exit(0));

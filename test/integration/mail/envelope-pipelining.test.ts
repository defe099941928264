import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import SMTPConnection from 'nodemailer/lib/smtp-connection/index.js';
import { SMTPServer } from 'smtp-server';
import type { AddressInfo } from 'node:net';
import { Readable } from 'node:stream';
import { installEnvelopePipelining } from '../../../src/mail/envelope-pipelining.js';
import { startChunkingSmtpServer, type ChunkingSmtpServer } from '../../support/chunking-smtp-server.js';

type Outcome = { error?: Error & { code?: string; command?: string; responseCode?: number; rejected?: string[] }; info?: { accepted: string[]; rejected: string[]; response: string; messageSize: number } };

/** One mail on a fresh nodemailer SMTPConnection to 127.0.0.1:`port`, then QUIT: what its send reported. */
async function sendOnce(port: number, from: string, to: string[], message: string | Buffer | Readable): Promise<Outcome> {
  const connection = new SMTPConnection({ host: '127.0.0.1', port, ignoreTLS: true });
  await new Promise<void>((resolve, reject) => {
    connection.once('error', reject);
    connection.connect(() => resolve());
  });
  try {
    return await new Promise((resolve) => {
      connection.send({ from, to }, message as never, (error, info) => resolve(error ? { error } : { info: info as never }));
    });
  } finally {
    connection.quit();
  }
}

/**
 * The pipelined envelope at nodemailer's own connection level, against the real smtp-server: what the
 * mailer never sends (several recipients) must still come out as nodemailer reports it unpipelined.
 */
describe('envelope pipelining (RFC 2920) on nodemailer\'s SMTPConnection', () => {
  let server: SMTPServer;
  let port: number;
  const received: Array<{ to: string[] }> = [];

  before(async () => {
    server = new SMTPServer({
      authOptional: true,
      disabledCommands: ['AUTH', 'STARTTLS'],
      logger: false,
      onRcptTo(address, _session, callback) {
        if (address.address.startsWith('refused')) callback(Object.assign(new Error('no such user'), { responseCode: 550 }));
        else callback();
      },
      onData(stream, session, callback) {
        stream.resume();
        stream.on('end', () => {
          received.push({ to: session.envelope.rcptTo.map((rcpt) => rcpt.address) });
          callback();
        });
      },
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    port = (server.server.address() as AddressInfo).port;
    assert.equal(installEnvelopePipelining(), true);
  });
  after(() => new Promise<void>((resolve) => server.close(() => resolve())));

  const send = (to: string[]): Promise<Outcome> => sendOnce(port, 'otp@mailotp.test', to, 'Subject: x\r\n\r\n123456\r\n');

  it('delivers to the recipients the server takes and reports the ones it refuses', async () => {
    const { error, info } = await send(['ann@example.test', 'refused@example.test', 'bo@example.test']);
    assert.equal(error, undefined);
    assert.deepEqual(info?.accepted, ['ann@example.test', 'bo@example.test']);
    assert.deepEqual(info?.rejected, ['refused@example.test']);
    assert.deepEqual(received.at(-1)?.to, ['ann@example.test', 'bo@example.test']);
  });

  it('fails as RCPT TO with the refusal\'s code when every recipient is refused, and sends nothing', async () => {
    const before = received.length;
    const { error } = await send(['refused@example.test', 'refused-too@example.test']);
    assert.equal(error?.command, 'RCPT TO');
    assert.equal(error?.responseCode, 550);
    assert.deepEqual(error?.rejected, ['refused@example.test', 'refused-too@example.test']);
    assert.equal(received.length, before);
  });

  it('is installed once, and changes nothing on a connection class without the internals it needs', () => {
    assert.equal(installEnvelopePipelining(), true);
    class Unrelated {
      send(): void {}
    }
    assert.equal(installEnvelopePipelining(Unrelated), false);
    assert.deepEqual(Object.getOwnPropertyNames(Unrelated.prototype), ['constructor', 'send']);
  });
});

/**
 * The chunked exchange (RFC 3030 BDAT) at nodemailer's connection level, against a server that answers
 * nothing of a transaction before it has read the whole last chunk: a client that waited for any reply
 * before sending the message would hang there.
 */
describe('BDAT chunking behind the pipelined envelope on nodemailer\'s SMTPConnection', () => {
  let server: ChunkingSmtpServer;

  before(async () => {
    server = await startChunkingSmtpServer();
    assert.equal(installEnvelopePipelining(), true);
  });
  after(() => server.close());

  const send = (from: string, to: string[], message: string | Buffer | Readable): Promise<Outcome> => sendOnce(server.port, from, to, message);

  it('sends the envelope and the message as one chunk and reports what the server took', async () => {
    const before = server.mails.length;
    const { error, info } = await send('otp@mailotp.test', ['ann@example.test', 'refused@example.test', 'bo@example.test'], 'Subject: x\r\n\r\n123456\r\n');
    assert.equal(error, undefined);
    assert.deepEqual(info?.accepted, ['ann@example.test', 'bo@example.test']);
    assert.deepEqual(info?.rejected, ['refused@example.test']);
    assert.match(info?.response ?? '', /^250 /);
    assert.equal(info?.messageSize, 22);
    assert.deepEqual(server.mails.slice(before).map((mail) => [mail.from, mail.to, mail.message.toString()]), [
      ['otp@mailotp.test', ['ann@example.test', 'bo@example.test'], 'Subject: x\r\n\r\n123456\r\n'],
    ]);
    assert.equal(server.dataCommands.at(-1), 'BDAT 22 LAST');
  });

  it('sends a streamed message with CRLF line ends and a final CRLF, its dots as they are', async () => {
    const before = server.mails.length;
    const { error } = await send('otp@mailotp.test', ['cy@example.test'], Readable.from([Buffer.from('Subject: y\n\n.leading dot\n'), Buffer.from('no newline at the end')]));
    assert.equal(error, undefined);
    assert.equal(server.mails[before]?.message.toString(), 'Subject: y\r\n\r\n.leading dot\r\nno newline at the end\r\n');
  });

  // A read that waited for an 'end' that never comes would hang the send: bounded, so that fails instead.
  it('fails as ESTREAM and sends no command when the message stream fails or closes before its end', { timeout: 10_000 }, async () => {
    const before = { mails: server.mails.length, commands: server.commands.length };
    const failing = new Readable({ read() { this.destroy(new Error('composer failed')); } });
    const failed = await send('otp@mailotp.test', ['gus@example.test'], failing);
    assert.equal(failed.error?.code, 'ESTREAM');
    assert.match(failed.error?.message ?? '', /composer failed/);
    const cut = new Readable({ read() { this.push('Subject: cut\r\n'); this.destroy(); } });
    const closed = await send('otp@mailotp.test', ['hal@example.test'], cut);
    assert.equal(closed.error?.code, 'ESTREAM');
    assert.equal(server.mails.length, before.mails);
    assert.deepEqual(server.commands.slice(before.commands).filter((command) => /^(MAIL|RCPT|BDAT)/.test(command)), []);
  });

  it('fails as RCPT TO with the refusal\'s code when every recipient is refused, and nothing is delivered', async () => {
    const before = server.mails.length;
    const { error } = await send('otp@mailotp.test', ['refused@example.test', 'refused-too@example.test'], 'Subject: z\r\n\r\n1\r\n');
    assert.equal(error?.code, 'EENVELOPE');
    assert.equal(error?.command, 'RCPT TO');
    assert.equal(error?.responseCode, 550);
    assert.deepEqual(error?.rejected, ['refused@example.test', 'refused-too@example.test']);
    assert.equal(server.mails.length, before);
  });

  it('fails as MAIL FROM when the sender is refused', async () => {
    const before = server.mails.length;
    const { error } = await send('refused@mailotp.test', ['dee@example.test'], 'Subject: z\r\n\r\n1\r\n');
    assert.equal(error?.command, 'MAIL FROM');
    assert.equal(error?.responseCode, 550);
    assert.equal(server.mails.length, before);
  });

  it('refuses a message over the size the server announced before it sends anything, as nodemailer does', async () => {
    const before = server.dataCommands.length;
    const { error } = await send('otp@mailotp.test', ['fay@example.test'], `Subject: big\r\n\r\n${'x'.repeat(1_048_577)}\r\n`);
    assert.equal(error?.code, 'EMESSAGE');
    assert.equal(error?.command, 'MAIL FROM');
    assert.equal(server.dataCommands.length, before);
  });

  it('fails as BDAT with the server\'s code when it refuses the message itself', async () => {
    const { error } = await send('otp@mailotp.test', ['eve@example.test'], 'Subject: z\r\n\r\nREFUSE-PERMANENTLY\r\n');
    assert.equal(error?.code, 'EMESSAGE');
    assert.equal(error?.command, 'BDAT');
    assert.equal(error?.responseCode, 554);
  });
});

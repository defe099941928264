import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import SMTPConnection from 'nodemailer/lib/smtp-connection/index.js';
import { SMTPServer } from 'smtp-server';
import type { AddressInfo } from 'node:net';
import { installEnvelopePipelining } from '../../../src/mail/envelope-pipelining.js';

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

  async function send(to: string[]): Promise<{ error?: Error & { command?: string; responseCode?: number; rejected?: string[] }; info?: { accepted: string[]; rejected: string[] } }> {
    const connection = new SMTPConnection({ host: '127.0.0.1', port, ignoreTLS: true });
    await new Promise<void>((resolve, reject) => {
      connection.once('error', reject);
      connection.connect(() => resolve());
    });
    try {
      return await new Promise((resolve) => {
        connection.send({ from: 'otp@mailotp.test', to }, 'Subject: x\r\n\r\n123456\r\n', (error, info) => resolve(error ? { error } : { info: info as never }));
      });
    } finally {
      connection.quit();
    }
  }

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

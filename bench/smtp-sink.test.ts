import assert from 'node:assert/strict';
import { connect, type Socket } from 'node:net';
import { once } from 'node:events';
import { after, before, describe, it } from 'node:test';
import nodemailer from 'nodemailer';
import { codeIn, startSmtpSink, type SinkMail, type SmtpSink } from './smtp-sink.js';

/** The benchmark reads every code through this sink, so a wrong or lost code would read as a server error. */
describe('bench SMTP sink', () => {
  let sink: SmtpSink;
  const mails: SinkMail[] = [];

  before(async () => {
    sink = await startSmtpSink((mail) => mails.push(mail));
  });
  after(() => sink.close());

  /** A raw connection to the sink, past its greeting: what it has answered so far, and a wait for a pattern in it. */
  async function rawSession(): Promise<{ socket: Socket; received: () => string; waitFor: (pattern: RegExp) => Promise<void> }> {
    const socket = connect(sink.port, '127.0.0.1');
    socket.setEncoding('latin1');
    let received = '';
    socket.on('data', (chunk: string) => (received += chunk));
    const waitFor = async (pattern: RegExp): Promise<void> => {
      const deadline = Date.now() + 5000;
      while (!pattern.test(received)) {
        if (Date.now() > deadline) throw new Error(`no ${pattern} in ${JSON.stringify(received)}`);
        await new Promise((resolve) => setTimeout(resolve, 5));
      }
    };
    await waitFor(/^220 /);
    return { socket, received: () => received, waitFor };
  }

  it('takes nodemailer\'s pooled mails, one connection after another, with their codes and recipients', async () => {
    mails.length = 0;
    const transport = nodemailer.createTransport({ host: '127.0.0.1', port: sink.port, secure: false, ignoreTLS: true, pool: true, maxConnections: 2 });
    try {
      const codes = ['123456', '000042', '98765432'];
      await Promise.all(
        codes.map((code, index) =>
          transport.sendMail({
            from: 'otp@bench.test',
            to: `user${index}@bench.test`,
            subject: 'Your code',
            // A long line makes nodemailer choose quoted-printable with soft line breaks around the code.
            text: `${'x'.repeat(70 + index)} ${code} is your one-time code.\n.\nA line that starts with a dot.`,
          }),
        ),
      );
      assert.deepEqual(
        mails.map((mail) => [mail.to, mail.otp]).sort(),
        [[['user0@bench.test'], '123456'], [['user1@bench.test'], '000042'], [['user2@bench.test'], '98765432']],
      );
      assert.ok(mails.every((mail) => Math.abs(mail.receivedAtMs - Date.now()) < 60_000));
    } finally {
      transport.close();
    }
  });

  it('answers pipelined commands in order, unstuffs dots and refuses what it does not do', async () => {
    mails.length = 0;
    const { socket, received, waitFor } = await rawSession();
    socket.write('EHLO me\r\nRCPT TO:<early@bench.test>\r\nMAIL FROM:<a@b.test>\r\nRCPT TO:<x@bench.test>\r\nRCPT TO:<y@bench.test>\r\nDATA\r\n');
    await waitFor(/354 /);
    // The body arrives in two pieces, split inside the terminator, followed at once by the next transaction.
    socket.write('Subject: hi\r\n\r\n..dot line\r\ncode 4711 here\r\n.');
    socket.write('\r\nMAIL FROM:<a@b.test>\r\nRCPT TO:<z@bench.test>\r\nDATA\r\n.\r\nVRFY x\r\nQUIT\r\n');
    await once(socket, 'end');
    const codes = received().split('\r\n').filter(Boolean).map((line) => line.slice(0, 3));
    assert.deepEqual(codes, ['220', '250', '250', '250', '250', '250', '503', '250', '250', '250', '354', '250', '250', '250', '354', '250', '502', '221']);
    assert.deepEqual(mails.map((mail) => [mail.to, mail.otp]), [[['x@bench.test', 'y@bench.test'], '4711'], [['z@bench.test'], undefined]]);
  });

  it('takes BDAT chunks pipelined behind the envelope by their byte counts, and refuses one without an envelope after reading it', async () => {
    mails.length = 0;
    const { socket, received } = await rawSession();
    // The first chunk (15 bytes) is split across writes; the last holds what DATA would take for its end.
    socket.write('EHLO me\r\nMAIL FROM:<a@b.test>\r\nRCPT TO:<c@bench.test>\r\nBDAT 15\r\nSubject: hi\r\n');
    socket.write('\r\nBDAT 15 LAST\r\n.code 5150\r\n.\r\nBDAT 3 LAST\r\nabcQUIT\r\n');
    await once(socket, 'end');
    const replies = received().split('\r\n').filter(Boolean);
    assert.ok(replies.some((line) => line === '250-CHUNKING'), JSON.stringify(replies));
    assert.deepEqual(replies.map((line) => line.slice(0, 3)), ['220', '250', '250', '250', '250', '250', '250', '250', '250', '250', '503', '221']);
    assert.deepEqual(mails.map((mail) => [mail.to, mail.otp]), [[['c@bench.test'], '5150']]);
  });

  it('finds a code in a base64 body', () => {
    const body = Buffer.from('Your code: 246813\n').toString('base64');
    assert.equal(codeIn(`Content-Transfer-Encoding: base64\r\n\r\n${body}`), '246813');
    assert.equal(codeIn('Subject: none\r\n\r\nno digits here'), undefined);
  });
});

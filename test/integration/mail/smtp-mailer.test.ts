import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import net from 'node:net';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, afterEach, before, describe, it } from 'node:test';
import { inspect } from 'node:util';
import nodemailer from 'nodemailer';
import { OtpError } from '../../../src/core/errors.js';
import type { Mailer, MailMessage, SmtpSettings } from '../../../src/core/ports.js';
import { buildRawMessage } from '../../../src/mail/raw-message.js';
import { createSmtpMailer, describeSmtpFailure } from '../../../src/mail/smtp-mailer.js';
import { startChunkingSmtpServer } from '../../support/chunking-smtp-server.js';
import { startSilentTcpServer, unusedPort } from '../../support/raw-tcp.js';
import { startSmtpSink, type SmtpSink, type SmtpSinkOptions } from '../../support/smtp-sink.js';
import { localhostCertificate } from '../../support/tls-fixture.js';

const CREDENTIALS = Object.freeze({ username: 'mailer@mailotp.test', password: 'Sink-Passw0rd-7f3c' });
const WRONG_PASSWORD = 'Wrong-Passw0rd-91ab';

function settingsFor(port: number, overrides: Partial<SmtpSettings> = {}): SmtpSettings {
  return {
    identifier: 'test',
    host: '127.0.0.1',
    port,
    isImplicitTls: false,
    isStartTlsRequired: false,
    username: '',
    password: '',
    sender: 'otp@mailotp.test',
    timeoutSeconds: 5,
    ...overrides,
  };
}

let mailCount = 0;
function messageTo(to: string): MailMessage {
  mailCount += 1;
  return {
    from: 'otp@mailotp.test',
    to,
    subject: `Your OTP ${mailCount}`,
    text: `Your one-time password is 12345${mailCount % 10}`,
    messageId: `<challenge-${mailCount}@mailotp.test>`,
  };
}

/** The OtpError a failed send throws; fails the test if the send succeeded or threw something else. */
async function failureOf(sending: Promise<void>): Promise<OtpError> {
  try {
    await sending;
  } catch (error) {
    assert.ok(error instanceof OtpError, `expected an OtpError, got ${inspect(error)}`);
    assert.equal(error.code, 'MAIL_DELIVERY_FAILED');
    return error;
  }
  assert.fail('the mail was sent, but the test expected a failure');
}

describe('SMTP mailer against a real SMTP server', () => {
  const trustingMailer = (isPooled = false): Mailer =>
    createSmtpMailer({ isPooled, maxConnectionsPerServer: 2, tls: { ca: localhostCertificate().cert } });
  const cleanups: Array<() => Promise<void>> = [];
  async function sink(options: SmtpSinkOptions = {}): Promise<SmtpSink> {
    const started = await startSmtpSink(options);
    cleanups.push(() => started.close());
    return started;
  }
  function mailer(made: Mailer): Mailer {
    cleanups.unshift(() => made.close());
    return made;
  }
  afterEach(async () => {
    for (const cleanup of cleanups.splice(0)) await cleanup();
  });

  it('delivers over plain SMTP with the given from, to, subject, text and Message-ID', async () => {
    const plain = await sink();
    const message = messageTo('alice@example.test');
    await mailer(trustingMailer()).send(settingsFor(plain.port), message);
    const mail = await plain.nextMail('alice@example.test');
    assert.deepEqual(
      { from: mail.from, to: mail.to, subject: mail.subject, text: mail.text.trim(), messageId: mail.messageId, isSecure: mail.isSecure },
      { from: message.from, to: [message.to], subject: message.subject, text: message.text, messageId: message.messageId, isSecure: false },
    );
  });

  it('upgrades with STARTTLS and authenticates when STARTTLS is required and a username is set', async () => {
    const secured = await sink({ offersStartTls: true, credentials: CREDENTIALS });
    await mailer(trustingMailer()).send(
      settingsFor(secured.port, { isStartTlsRequired: true, username: CREDENTIALS.username, password: CREDENTIALS.password }),
      messageTo('bob@example.test'),
    );
    const mail = await secured.nextMail('bob@example.test');
    assert.equal(mail.isSecure, true);
    assert.equal(mail.authUser, CREDENTIALS.username);
  });

  it('refuses to send when STARTTLS is required but the server does not support it', async () => {
    const plainOnly = await sink({ refusesStartTls: true });
    const error = await failureOf(mailer(trustingMailer()).send(settingsFor(plainOnly.port, { isStartTlsRequired: true }), messageTo('carol@example.test')));
    assert.equal(describeSmtpFailure(error).code, 'ETLS');
    assert.equal(plainOnly.mails.length, 0);
  });

  it('speaks TLS from the first byte for implicit TLS', async () => {
    const implicit = await sink({ isImplicitTls: true, credentials: CREDENTIALS });
    await mailer(trustingMailer()).send(
      settingsFor(implicit.port, { isImplicitTls: true, username: CREDENTIALS.username, password: CREDENTIALS.password }),
      messageTo('dave@example.test'),
    );
    const mail = await implicit.nextMail('dave@example.test');
    assert.equal(mail.isSecure, true);
    assert.equal(mail.authUser, CREDENTIALS.username);
  });

  it('attempts no AUTH at all when the username is empty, even where the server would accept it', async () => {
    const optionalAuth = await sink({ offersStartTls: true, credentials: CREDENTIALS, isAuthOptional: true });
    await mailer(trustingMailer()).send(settingsFor(optionalAuth.port, { password: CREDENTIALS.password }), messageTo('erin@example.test'));
    const mail = await optionalAuth.nextMail('erin@example.test');
    assert.equal(mail.authUser, undefined);
    assert.deepEqual(optionalAuth.authAttempts, []);
    // Opportunistic STARTTLS still applies: the server offered it, so the session was encrypted.
    assert.equal(mail.isSecure, true);
  });

  it('fails rather than send unauthenticated when a username is set but the server offers no AUTH', async () => {
    const noAuth = await sink();
    const error = await failureOf(
      mailer(trustingMailer()).send(settingsFor(noAuth.port, { username: 'someone', password: 'pw-4711' }), messageTo('frank@example.test')),
    );
    assert.equal(describeSmtpFailure(error).code, 'EAUTH');
    assert.equal(noAuth.mails.length, 0);
  });

  it('fails permanently with EAUTH 535 for a wrong password and never reveals the password', async () => {
    const secured = await sink({ offersStartTls: true, credentials: CREDENTIALS });
    const error = await failureOf(
      mailer(trustingMailer()).send(
        settingsFor(secured.port, { isStartTlsRequired: true, username: CREDENTIALS.username, password: WRONG_PASSWORD }),
        messageTo('grace@example.test'),
      ),
    );
    assert.match(error.detail ?? '', /EAUTH/);
    assert.match(error.detail ?? '', /535/);
    assert.equal(describeSmtpFailure(error).isTransient, false);
    assert.deepEqual(secured.authAttempts.map((attempt) => attempt.isAccepted), [false]);
    for (const text of [error.message, error.detail ?? '', JSON.stringify(error), inspect(error, { depth: 10 })]) {
      assert.doesNotMatch(text, new RegExp(WRONG_PASSWORD));
      assert.doesNotMatch(text, new RegExp(CREDENTIALS.password));
      // The sink's reply text stays out too: only codes are kept.
      assert.doesNotMatch(text, /Invalid username or password/);
    }
    assert.equal(secured.mails.length, 0);
  });

  it('fails transiently when nothing listens on the port', async () => {
    const port = await unusedPort();
    const error = await failureOf(mailer(trustingMailer()).send(settingsFor(port), messageTo('heidi@example.test')));
    const failure = describeSmtpFailure(error);
    assert.equal(failure.isTransient, true, failure.detail);
    assert.match(failure.code, /^(ECONNECTION|ESOCKET)$/);
  });

  it('times out transiently when the server accepts the connection but never greets', async () => {
    const silent = await startSilentTcpServer();
    cleanups.push(() => silent.close());
    const error = await failureOf(mailer(trustingMailer()).send(settingsFor(silent.port, { timeoutSeconds: 1 }), messageTo('ivan@example.test')));
    assert.equal(silent.connectionCount(), 1);
    const failure = describeSmtpFailure(error);
    assert.equal(failure.code, 'ETIMEDOUT');
    assert.equal(failure.isTransient, true);
  });

  it('refuses an untrusted self-signed certificate when no CA is given, over implicit TLS and STARTTLS', async () => {
    const implicit = await sink({ isImplicitTls: true });
    const startTls = await sink({ offersStartTls: true });
    const strict = mailer(createSmtpMailer({ isPooled: false, maxConnectionsPerServer: 1 }));
    const implicitError = await failureOf(strict.send(settingsFor(implicit.port, { isImplicitTls: true }), messageTo('judy@example.test')));
    const startTlsError = await failureOf(strict.send(settingsFor(startTls.port, { isStartTlsRequired: true }), messageTo('judy@example.test')));
    for (const error of [implicitError, startTlsError]) {
      const failure = describeSmtpFailure(error);
      assert.equal(failure.isCertificateFailure, true, failure.detail);
      assert.equal(failure.isTransient, false);
    }
    assert.equal(implicit.mails.length + startTls.mails.length, 0);
  });

  it('calls a 550 recipient rejection permanent and a 450 transient', async () => {
    const refusing = await sink({ rejectRecipientWith: 550 });
    const busy = await sink({ rejectRecipientWith: 450 });
    const sender = mailer(trustingMailer());
    const refused = describeSmtpFailure(await failureOf(sender.send(settingsFor(refusing.port), messageTo('ken@example.test'))));
    const deferred = describeSmtpFailure(await failureOf(sender.send(settingsFor(busy.port), messageTo('ken@example.test'))));
    assert.deepEqual([refused.responseCode, refused.command, refused.isTransient], [550, 'RCPT TO', false]);
    assert.deepEqual([deferred.responseCode, deferred.command, deferred.isTransient], [450, 'RCPT TO', true]);
  });

  it('calls a 550 sender refusal permanent and a 451 transient, naming MAIL FROM even with the envelope pipelined', async () => {
    const refusing = await sink({ rejectSenderWith: 550 });
    const busy = await sink({ rejectSenderWith: 451 });
    const sender = mailer(trustingMailer(true));
    const refused = describeSmtpFailure(await failureOf(sender.send(settingsFor(refusing.port), messageTo('kim@example.test'))));
    const deferred = describeSmtpFailure(await failureOf(sender.send(settingsFor(busy.port), messageTo('kim@example.test'))));
    assert.deepEqual([refused.responseCode, refused.command, refused.isTransient], [550, 'MAIL FROM', false]);
    assert.deepEqual([deferred.responseCode, deferred.command, deferred.isTransient], [451, 'MAIL FROM', true]);
    assert.equal(refusing.mails.length + busy.mails.length, 0);
  });

  it('refuses a recipient list instead of mailing several addresses', async () => {
    const plain = await sink();
    await failureOf(mailer(trustingMailer()).send(settingsFor(plain.port), messageTo('leo@example.test, mallory@example.test')));
    assert.equal(plain.openConnectionCount(), 0);
    assert.equal(plain.mails.length, 0);
  });
});

describe('SMTP mailer connection pools', () => {
  // Long enough that no idle socket timeout closes a pooled connection while a test watches it.
  const pooledSettings = (port: number, overrides: Partial<SmtpSettings> = {}): SmtpSettings =>
    settingsFor(port, { timeoutSeconds: 60, ...overrides });
  const pooledMailer = (): Mailer => createSmtpMailer({ isPooled: true, maxConnectionsPerServer: 1, tls: { ca: localhostCertificate().cert } });
  let sinkA: SmtpSink;
  let sinkB: SmtpSink;
  let secured: SmtpSink;
  before(async () => {
    sinkA = await startSmtpSink();
    sinkB = await startSmtpSink();
    secured = await startSmtpSink({ offersStartTls: true, credentials: CREDENTIALS });
  });
  after(async () => {
    await Promise.all([sinkA.close(), sinkB.close(), secured.close()]);
  });

  it('reuses one connection for mails with the same settings', async () => {
    const pooled = pooledMailer();
    try {
      await pooled.send(pooledSettings(sinkA.port), messageTo('nina@example.test'));
      await pooled.send(pooledSettings(sinkA.port), messageTo('nina@example.test'));
      await sinkA.nextMail('nina@example.test');
      await sinkA.nextMail('nina@example.test');
      assert.equal(sinkA.openConnectionCount(), 1);
    } finally {
      await pooled.close();
    }
    await sinkA.waitForOpenConnections(0);
  });

  it('uses a new transport once the password of an identifier changes', async () => {
    const pooled = pooledMailer();
    try {
      const base = pooledSettings(secured.port, { isStartTlsRequired: true, username: CREDENTIALS.username });
      await failureOf(pooled.send({ ...base, password: WRONG_PASSWORD }, messageTo('olga@example.test')));
      await pooled.send({ ...base, password: CREDENTIALS.password }, messageTo('olga@example.test'));
      const mail = await secured.nextMail('olga@example.test');
      assert.equal(mail.authUser, CREDENTIALS.username);
    } finally {
      await pooled.close();
    }
    await secured.waitForOpenConnections(0);
  });

  it('moves to the new server when an identifier is repointed and closes the old pool', async () => {
    const pooled = pooledMailer();
    try {
      await pooled.send(pooledSettings(sinkA.port, { identifier: 'relay' }), messageTo('peggy@example.test'));
      await sinkA.nextMail('peggy@example.test');
      assert.equal(sinkA.openConnectionCount(), 1);
      await pooled.send(pooledSettings(sinkB.port, { identifier: 'relay' }), messageTo('peggy@example.test'));
      await sinkB.nextMail('peggy@example.test');
      // The stale pool for "relay" is closed, while the new one stays open for the next mail.
      await sinkA.waitForOpenConnections(0);
      assert.equal(sinkB.openConnectionCount(), 1);
    } finally {
      await pooled.close();
    }
    await sinkB.waitForOpenConnections(0);
  });

  it('closes every pool on close()', async () => {
    const pooled = pooledMailer();
    await pooled.send(pooledSettings(sinkA.port, { identifier: 'first' }), messageTo('quinn@example.test'));
    await pooled.send(pooledSettings(sinkB.port, { identifier: 'second' }), messageTo('quinn@example.test'));
    await sinkA.nextMail('quinn@example.test');
    await sinkB.nextMail('quinn@example.test');
    assert.deepEqual([sinkA.openConnectionCount(), sinkB.openConnectionCount()], [1, 1]);
    await pooled.close();
    await Promise.all([sinkA.waitForOpenConnections(0), sinkB.waitForOpenConnections(0)]);
  });
});

describe('SMTP mailer trust through NODE_EXTRA_CA_CERTS', () => {
  let implicit: SmtpSink;
  let tempDir: string;
  let caFile: string;
  before(async () => {
    implicit = await startSmtpSink({ isImplicitTls: true });
    tempDir = mkdtempSync(join(tmpdir(), 'mailotp-ca-'));
    caFile = join(tempDir, 'sink-ca.pem');
    writeFileSync(caFile, localhostCertificate().cert);
  });
  after(async () => {
    await implicit.close();
    rmSync(tempDir, { recursive: true, force: true });
  });

  /** Runs the compiled mailer in a fresh node, without any tls.ca, and returns its exit code. */
  function sendFromChild(to: string, extraEnv: Record<string, string>): Promise<{ exitCode: number | null; stderr: string }> {
    const mailerUrl = new URL('../../../src/mail/smtp-mailer.js', import.meta.url).href;
    const script = `
      import { createSmtpMailer } from ${JSON.stringify(mailerUrl)};
      const mailer = createSmtpMailer({ isPooled: false, maxConnectionsPerServer: 1 });
      try {
        await mailer.send(
          { identifier: 'child', host: '127.0.0.1', port: Number(process.env.SINK_PORT), isImplicitTls: true, isStartTlsRequired: false,
            username: '', password: '', sender: 'otp@mailotp.test', timeoutSeconds: 5 },
          { from: 'otp@mailotp.test', to: process.env.MAIL_TO, subject: 'via extra CA', text: 'trusted', messageId: '<child@mailotp.test>' },
        );
      } catch (error) {
        console.error(error.detail ?? String(error));
        process.exitCode = 3;
      } finally {
        await mailer.close();
      }
    `;
    const env: Record<string, string> = { PATH: process.env['PATH'] ?? '', SINK_PORT: String(implicit.port), MAIL_TO: to, ...extraEnv };
    const child = spawn(process.execPath, ['--input-type=module', '-e', script], { env, stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => { stderr += chunk; });
    return new Promise((resolve, reject) => {
      child.once('error', reject);
      child.once('close', (exitCode) => resolve({ exitCode, stderr }));
    });
  }

  it('verifies the server against a CA added with NODE_EXTRA_CA_CERTS', async () => {
    const result = await sendFromChild('ruth@example.test', { NODE_EXTRA_CA_CERTS: caFile });
    assert.equal(result.exitCode, 0, result.stderr);
    const mail = await implicit.nextMail('ruth@example.test');
    assert.equal(mail.subject, 'via extra CA');
    assert.equal(mail.isSecure, true);
  });

  it('refuses the same server without NODE_EXTRA_CA_CERTS', async () => {
    const result = await sendFromChild('sybil@example.test', {});
    assert.equal(result.exitCode, 3);
    assert.match(result.stderr, /certificate rejected/);
    assert.equal(implicit.mails.filter((mail) => mail.to.includes('sybil@example.test')).length, 0);
  });
});

describe('SMTP mailer on the wire', () => {
  /** What reaches the socket's implementation on connections to `port`, one entry per write it is asked to do (one system call). */
  function recordWrites(port: number): { writes: string[]; restore(): void } {
    const proto = net.Socket.prototype as unknown as Record<'_write' | '_writev', (...args: any[]) => unknown>;
    const original = { _write: proto._write, _writev: proto._writev };
    const writes: string[] = [];
    const record = (socket: net.Socket, payload: string): void => {
      if (socket.remotePort === port) writes.push(payload);
    };
    proto._write = function (this: net.Socket, chunk: Buffer | string, ...rest: unknown[]) {
      record(this, String(chunk));
      return original._write.call(this, chunk, ...rest);
    };
    proto._writev = function (this: net.Socket, chunks: Array<{ chunk: Buffer | string }>, ...rest: unknown[]) {
      record(this, chunks.map(({ chunk }) => String(chunk)).join(''));
      return original._writev.call(this, chunks, ...rest);
    };
    return { writes, restore: () => Object.assign(proto, original) };
  }

  /** Sends one mail to each address through a pooled mailer of one connection, recording what it writes. */
  async function sendRecorded(sinkOptions: SmtpSinkOptions, recipients: readonly string[], text?: string): Promise<string[]> {
    const sink = await startSmtpSink(sinkOptions);
    const mailer = createSmtpMailer({ isPooled: true, maxConnectionsPerServer: 1 });
    const recording = recordWrites(sink.port);
    try {
      for (const to of recipients) {
        await mailer.send(settingsFor(sink.port), { ...messageTo(to), ...(text === undefined ? {} : { text }) });
        assert.equal((await sink.nextMail(to)).to.join(), to);
      }
    } finally {
      recording.restore();
      await mailer.close();
      await sink.close();
    }
    return recording.writes;
  }

  it('sends MAIL FROM, RCPT TO and DATA in one write to a server that offers PIPELINING, mail after mail', async () => {
    const recipients = ['nia@example.test', 'otto@example.test'];
    const writes = await sendRecorded({}, recipients);
    const envelopes = writes.filter((payload) => payload.includes('MAIL FROM:'));
    assert.equal(envelopes.length, recipients.length, JSON.stringify(writes));
    envelopes.forEach((envelope, index) => {
      assert.equal(envelope, `MAIL FROM:<otp@mailotp.test>\r\nRCPT TO:<${recipients[index]}>\r\nDATA\r\n`, JSON.stringify(writes));
    });
  });

  it('waits for each reply of a server that does not offer PIPELINING', async () => {
    const writes = await sendRecorded({ hidesPipelining: true }, ['pia@example.test']);
    const mailFrom = writes.find((payload) => payload.includes('MAIL FROM:'));
    assert.equal(mailFrom, 'MAIL FROM:<otp@mailotp.test>\r\n', JSON.stringify(writes));
    assert.ok(writes.includes('RCPT TO:<pia@example.test>\r\n') && writes.includes('DATA\r\n'), JSON.stringify(writes));
  });

  it('sends the envelope and the message in one write, as one BDAT chunk, to a server that offers CHUNKING, mail after mail', async () => {
    const server = await startChunkingSmtpServer();
    const mailer = createSmtpMailer({ isPooled: true, maxConnectionsPerServer: 1 });
    const recording = recordWrites(server.port);
    const recipients = ['una@example.test', 'vic@example.test', 'wes@example.test'];
    try {
      // The strict server answers nothing before the last chunk: a mailer that waited for a reply would hang.
      for (const to of recipients) await mailer.send(settingsFor(server.port), { ...messageTo(to), text: `.a line with a dot\nYour code is 777${to.length}.` });
    } finally {
      recording.restore();
      await mailer.close();
      await server.close();
    }
    assert.deepEqual(server.mails.map((mail) => mail.to), recipients.map((to) => [to]));
    const transactions = recording.writes.filter((payload) => payload.includes('MAIL FROM:'));
    assert.equal(transactions.length, recipients.length, JSON.stringify(recording.writes));
    transactions.forEach((payload, index) => {
      const message = server.mails[index]!.message.toString();
      assert.equal(payload, `MAIL FROM:<otp@mailotp.test>\r\nRCPT TO:<${recipients[index]}>\r\nBDAT ${Buffer.byteLength(message)} LAST\r\n${message}`);
      assert.match(message, /\r\n\.a line with a dot\r\nYour code is 777\d+\.\r\n$/);
    });
    assert.ok(server.dataCommands.every((command) => command.startsWith('BDAT ')), JSON.stringify(server.dataCommands));
  });

  it('hands a plain-text mail to the transport as the bytes buildRawMessage made, and composes an HTML mail with nodemailer', async () => {
    const server = await startChunkingSmtpServer();
    const mailer = createSmtpMailer({ isPooled: true, maxConnectionsPerServer: 1 });
    const mailerPrototype = Object.getPrototypeOf(nodemailer.createTransport({ jsonTransport: true })) as { sendMail: (...args: unknown[]) => unknown };
    const sendMail = mailerPrototype.sendMail;
    let composed = 0;
    mailerPrototype.sendMail = function (this: unknown, ...args: unknown[]) {
      composed += 1;
      return sendMail.apply(this, args);
    };
    const plain = messageTo('xia@example.test');
    try {
      await mailer.send(settingsFor(server.port), plain);
      assert.equal(composed, 0, 'no MailMessage, plugins or MIME tree for a message built already');
      await mailer.send(settingsFor(server.port), { ...messageTo('yan@example.test'), html: '<p>Your code is 1234</p>' });
      assert.equal(composed, 1, 'what buildRawMessage does not build goes through sendMail');
    } finally {
      mailerPrototype.sendMail = sendMail;
      await mailer.close();
      await server.close();
    }
    const withoutDate = (message: string): string => message.replace(/^Date: .*\r\n/m, '');
    const expected = buildRawMessage(plain, plain.to, new Date())!;
    assert.deepEqual(
      { from: server.mails[0]?.from, to: server.mails[0]?.to, message: withoutDate(server.mails[0]!.message.toString()) },
      { from: expected.envelope.from, to: expected.envelope.to, message: withoutDate(expected.raw) },
    );
    assert.match(server.mails[1]!.message.toString(), /text\/html/);
  });

  it('sends the message as one BDAT chunk over STARTTLS too, mail after mail', async () => {
    const server = await startChunkingSmtpServer({ tls: localhostCertificate() });
    const mailer = createSmtpMailer({ isPooled: true, maxConnectionsPerServer: 1, tls: { ca: localhostCertificate().cert } });
    try {
      for (const to of ['zoe@example.test', 'zed@example.test']) await mailer.send(settingsFor(server.port, { isStartTlsRequired: true }), messageTo(to));
    } finally {
      await mailer.close();
      await server.close();
    }
    assert.deepEqual(server.mails.map((mail) => [mail.to, mail.isSecure]), [[['zoe@example.test'], true], [['zed@example.test'], true]]);
    assert.deepEqual(server.dataCommands.map((command) => command.split(' ')[0]), ['BDAT', 'BDAT']);
  });

  it('calls a refused chunk permanent on 554 and transient on 451, naming BDAT', async () => {
    const server = await startChunkingSmtpServer();
    const mailer = createSmtpMailer({ isPooled: true, maxConnectionsPerServer: 1 });
    try {
      const refused = describeSmtpFailure(await failureOf(mailer.send(settingsFor(server.port), { ...messageTo('xia@example.test'), text: 'REFUSE-PERMANENTLY' })));
      const deferred = describeSmtpFailure(await failureOf(mailer.send(settingsFor(server.port), { ...messageTo('xia@example.test'), text: 'REFUSE-FOR-NOW' })));
      assert.deepEqual([refused.code, refused.responseCode, refused.command, refused.isTransient], ['EMESSAGE', 554, 'BDAT', false]);
      assert.deepEqual([deferred.code, deferred.responseCode, deferred.command, deferred.isTransient], ['EMESSAGE', 451, 'BDAT', true]);
      // The pool recovers from a refused message: the next mail goes out.
      await mailer.send(settingsFor(server.port), messageTo('yan@example.test'));
      assert.deepEqual(server.mails.map((mail) => mail.to), [['yan@example.test']]);
    } finally {
      await mailer.close();
      await server.close();
    }
  });

  it('writes each message - headers, body and final dot - to the socket at once, mail after mail on a pooled connection', async () => {
    const text = `Your one-time password is 424242.\n\nIt is valid for 120 seconds.\n\n${'A line of text. '.repeat(8)}`;
    const writes = await sendRecorded({}, ['one@example.test', 'two@example.test', 'three@example.test'], text);
    const messages = writes.filter((payload) => payload.includes('Subject: '));
    assert.equal(messages.length, 3, JSON.stringify(writes));
    for (const message of messages) assert.ok(message.endsWith('\r\n.\r\n') && message.includes('424242'), JSON.stringify(message));
  });
});

import { finished } from 'node:stream';
import SMTPConnection from 'nodemailer/lib/smtp-connection/index.js';

/**
 * SMTP command pipelining for the envelope (RFC 2920). nodemailer waits for the reply to MAIL FROM
 * before it sends RCPT TO, and for the last RCPT reply before DATA: three round trips before the
 * message can go, each a wake-up of both ends. A server that offers PIPELINING may be sent MAIL FROM,
 * every RCPT TO and DATA in one go (DATA ends the group, RFC 2920 3.1), and answers them in order, so
 * the envelope costs one round trip and a mail two instead of four. To a relay 30 ms away that is 60 ms
 * off every OTP mail; on the benchmark's loopback it took two of the server's seven wake-ups per two-step
 * login and 0.3-0.4 ms of the SMTP server's CPU per mail.
 *
 * nodemailer has no option for this, so its connection is taught here, in one place: `_setEnvelope`
 * still checks the envelope and writes MAIL FROM with every parameter it decides on (SIZE, SMTPUTF8,
 * DSN, REQUIRETLS); then, when the server offered PIPELINING, the RCPT TO commands and DATA follow at once
 * and the replies are read as nodemailer would have read them one at a time: a refused MAIL FROM fails the
 * mail as "MAIL FROM" with the server's code, refused recipients are recorded as rejected with theirs, and
 * when none is left the mail fails as "RCPT TO", whatever the server then answers to DATA. A server
 * without PIPELINING, and LMTP, keep nodemailer's own exchange.
 *
 * A server that also offers CHUNKING (RFC 3030; Postfix, Exim and Exchange do by default) takes the
 * message itself in the same write: MAIL FROM, RCPT TO, then `BDAT <size> LAST` and the message's bytes,
 * with no wait for a 354 and no dot-stuffing, since the size says where the message ends. A mail then costs
 * one round trip instead of two: another 30 ms off every OTP mail to that relay, and on the benchmark's
 * loopback one wake-up less per mail at each end. The message is read into memory first (an OTP mail is a
 * few hundred bytes) and sent with its line ends made CRLF and a final CRLF, as nodemailer's DATA stream
 * would send it; the server answers the BDAT with the message's fate, refusing it (503 or 554) when it
 * refused the sender or every recipient, and the mail fails as it would have failed with DATA.
 *
 * It leans on nodemailer's private members, so it checks them first and leaves nodemailer alone when
 * one is missing (a nodemailer whose internals changed sends as before, only slower); the tests in
 * test/integration/mail run the pipelined exchange against a server that refuses to answer MAIL FROM
 * before it has read DATA, and the chunked one against a server that answers nothing before it has
 * read the whole chunk.
 */

type EnvelopeCallback = (error: Error | null, info?: unknown) => void;

interface SmtpError extends Error {
  recipient?: string;
  rejected?: string[];
  rejectedErrors?: SmtpError[];
}

/** The members of nodemailer's SMTPConnection this relies on (lib/smtp-connection/index.js, 7.x). */
interface ConnectionInternals {
  options: { lmtp?: boolean };
  _responseActions: Array<(reply: string) => void>;
  _supportedExtensions: string[];
  /** The EHLO reply's lines after the greeting, keywords first: where CHUNKING shows (nodemailer does not list it). */
  _ehloLines?: string[];
  _maxAllowedSize?: number;
  _socket: { write(chunk: Buffer): boolean };
  _envelope: { to: string[]; rcptQueue: string[]; accepted: string[]; rejected: string[]; rejectedErrors: SmtpError[] };
  _setEnvelope(envelope: unknown, callback: EnvelopeCallback): void;
  _sendCommand(command: string): void;
  _formatError(message: unknown, code: string, response: string | false, command: string): SmtpError;
  _actionDATA(reply: string, callback: EnvelopeCallback): void;
  _getDsnRcptToArgs(): string;
  _isDestroyedMessage(command: string): string | false;
  send(envelope: { size?: number }, message: unknown, done: EnvelopeCallback): void;
}

const INSTALLED = Symbol.for('mailotp.envelopePipelining');
const REQUIRED_METHODS = ['_setEnvelope', '_sendCommand', '_formatError', '_actionDATA', '_getDsnRcptToArgs', '_isDestroyedMessage', 'send'] as const;

const isPositive = (reply: string): boolean => reply.charAt(0) === '2';

/**
 * Queues the reply handlers for the MAIL FROM just written and for an RCPT TO per queued recipient, then
 * one for the command that ends the group (the caller sends it next), which `finish` gets with the
 * envelope's verdict: the sender's refusal, or every recipient's (as nodemailer reports them), or none.
 * Then sends the RCPT TOs behind the MAIL FROM.
 */
function pipelineRecipients(connection: ConnectionInternals, finish: (reply: string, refusal: SmtpError | undefined) => void): void {
  const envelope = connection._envelope;
  const recipients = envelope.rcptQueue.splice(0);
  let senderRefusal: SmtpError | undefined;
  let lastRefusal = '';
  connection._responseActions.push((reply) => {
    if (!isPositive(reply)) senderRefusal = connection._formatError('Mail command failed', 'EENVELOPE', reply, 'MAIL FROM');
  });
  for (const recipient of recipients) {
    connection._responseActions.push((reply) => {
      // After a refused MAIL FROM the server refuses every RCPT TO for that reason alone.
      if (senderRefusal) return;
      if (isPositive(reply)) {
        envelope.accepted.push(recipient);
        return;
      }
      const refusal = connection._formatError('Recipient command failed', 'EENVELOPE', reply, 'RCPT TO');
      refusal.recipient = recipient;
      envelope.rejected.push(recipient);
      envelope.rejectedErrors.push(refusal);
      lastRefusal = reply;
    });
  }
  connection._responseActions.push((reply) => {
    if (senderRefusal) return finish(reply, senderRefusal);
    if (envelope.accepted.length === 0) {
      const refusal = connection._formatError("Can't send mail - all recipients were rejected", 'EENVELOPE', lastRefusal, 'RCPT TO');
      refusal.rejected = envelope.rejected;
      refusal.rejectedErrors = envelope.rejectedErrors;
      return finish(reply, refusal);
    }
    finish(reply, undefined);
  });
  for (const recipient of recipients) connection._sendCommand(`RCPT TO:<${recipient}>${connection._getDsnRcptToArgs()}`);
}

/** Queues the reply handlers for RCPT TO and DATA, then sends them behind the MAIL FROM just written. */
function pipelineAfterMailFrom(connection: ConnectionInternals, callback: EnvelopeCallback): void {
  // With every recipient refused the mail fails as nodemailer reports it. Should a server answer 354 all
  // the same, the failed send makes the pool and the one-shot transport close the connection, so no
  // message follows.
  pipelineRecipients(connection, (reply, refusal) => (refusal ? callback(refusal) : connection._actionDATA(reply, callback)));
  connection._sendCommand('DATA');
}

const offersPipelining = (connection: ConnectionInternals): boolean =>
  !connection.options?.lmtp && Array.isArray(connection._supportedExtensions) && connection._supportedExtensions.includes('PIPELINING');

const offersChunking = (connection: ConnectionInternals): boolean =>
  offersPipelining(connection) && Array.isArray(connection._ehloLines) && connection._ehloLines.some((line) => /^CHUNKING\b/i.test(line));

const CR = 0x0d;
const LF = 0x0a;

/**
 * The message as BDAT must carry it: every line end CRLF (RFC 3030 2: the data is sent as is, so a bare
 * LF would reach the recipient bare) and a CRLF at the end, the bytes DATA's stream would have sent
 * before its final dot. No dot-stuffing: the chunk's size marks the end, not a line.
 */
export function canonicalMessage(message: Buffer): Buffer {
  let bareLineFeeds = 0;
  for (let index = message.indexOf(LF); index !== -1; index = message.indexOf(LF, index + 1)) {
    if (index === 0 || message[index - 1] !== CR) bareLineFeeds += 1;
  }
  const last = message.length > 0 ? message[message.length - 1] : undefined;
  const tail = last === LF ? '' : last === CR ? '\n' : '\r\n';
  if (bareLineFeeds === 0 && tail === '') return message;
  const out = Buffer.allocUnsafe(message.length + bareLineFeeds + tail.length);
  let written = 0;
  for (let index = 0; index < message.length; index += 1) {
    const byte = message[index]!;
    if (byte === LF && (index === 0 || message[index - 1] !== CR)) out[written++] = CR;
    out[written++] = byte;
  }
  written += out.write(tail, written, 'latin1');
  return out.subarray(0, written);
}

/**
 * The whole message, from a stream (nodemailer's composer) or a string or Buffer; never synchronously.
 * The chunks are gathered by hand: stream/consumers' `buffer` goes through an async iterator, a Blob and an
 * ArrayBuffer copy, which took 3-4 % of the event loop's time in a profile of full flows (one per mail).
 * A stream that fails, or closes before its end, fails the read (`finished`), as the iterator did.
 */
function readMessage(message: unknown, callback: (error: Error | null, body?: Buffer) => void): void {
  // A string or Buffer a tick later, as a stream could not be read sooner: nodemailer's callers do not
  // expect `send` to call back before it returns. A Buffer (smtp-mailer.ts hands every prebuilt message as
  // one) is used as it is, not copied: nothing here writes into it (canonicalMessage makes a new one).
  if (Buffer.isBuffer(message)) {
    process.nextTick(callback, null, message);
    return;
  }
  if (typeof message === 'string') {
    process.nextTick(callback, null, Buffer.from(message));
    return;
  }
  const stream = message as NodeJS.ReadableStream;
  const chunks: Buffer[] = [];
  const collect = (chunk: Buffer | string): void => {
    chunks.push(typeof chunk === 'string' ? Buffer.from(chunk) : chunk);
  };
  stream.on('data', collect);
  finished(stream, { writable: false }, (error) => {
    stream.removeListener('data', collect);
    if (error) callback(error instanceof Error ? error : new Error(String(error)));
    else callback(null, Buffer.concat(chunks));
  });
}

/**
 * nodemailer's `send` for a server that offers PIPELINING and CHUNKING: the envelope and the message in
 * one write, one reply per command, as nodemailer's own `send` reports them (the same checks first, the
 * same errors and the same `info`).
 */
function sendChunked(connection: ConnectionInternals, setEnvelope: ConnectionInternals['_setEnvelope'], envelope: { size?: number }, message: unknown, done: EnvelopeCallback): void {
  let isDone = false;
  const finish: EnvelopeCallback = (error, info) => {
    if (isDone) return;
    isDone = true;
    done(error, info);
  };
  const startTime = Date.now();
  readMessage(message, (readError, raw) => {
    if (readError || !raw) return finish(connection._formatError(readError ?? 'Empty message', 'ESTREAM', false, 'API'));
    const destroyed = connection._isDestroyedMessage('send message');
    if (destroyed) return finish(connection._formatError(destroyed, 'ECONNECTION', false, 'API'));
    const body = canonicalMessage(raw);
    if (connection._maxAllowedSize && body.length > connection._maxAllowedSize) {
      return finish(connection._formatError(`Message size larger than allowed ${connection._maxAllowedSize}`, 'EMESSAGE', false, 'MAIL FROM'));
    }
    const queuedBefore = connection._responseActions.length;
    setEnvelope.call(connection, envelope, (error) => finish(error ?? connection._formatError('Envelope refused', 'EENVELOPE', false, 'API')));
    // One new reply handler: MAIL FROM went out. None: nodemailer refused the envelope and said so.
    if (isDone || connection._responseActions.length !== queuedBefore + 1) return;
    connection._responseActions.pop();
    pipelineRecipients(connection, (reply, refusal) => {
      if (refusal) return finish(refusal);
      if (!isPositive(reply)) return finish(connection._formatError('Message failed', 'EMESSAGE', reply, 'BDAT'));
      // nodemailer's own report of an accepted envelope (accepted, rejected, ehlo, rejectedErrors), then
      // what its `send` adds once the message is through.
      connection._actionDATA(reply, (error, info) => finish(error, error ? undefined : {
        ...(info as object), envelopeTime: Date.now() - startTime, messageTime: 0, messageSize: body.length, response: reply,
      }));
    });
    connection._sendCommand(`BDAT ${body.length} LAST`);
    connection._socket.write(body);
  });
}

/**
 * Teaches nodemailer's SMTPConnection (shared by its pool and its one-shot transport) to pipeline the
 * envelope, and to send the message with it as one BDAT chunk where the server offers CHUNKING.
 * Idempotent. Returns false, changing nothing, when the internals it needs are not there.
 */
export function installEnvelopePipelining(connectionClass: { prototype: object } = SMTPConnection): boolean {
  const proto = connectionClass.prototype as Partial<ConnectionInternals> & { [INSTALLED]?: true };
  if (proto[INSTALLED]) return true;
  if (!REQUIRED_METHODS.every((name) => typeof proto[name] === 'function')) return false;
  const setEnvelope = proto._setEnvelope!;
  const send = proto.send!;
  proto._setEnvelope = function pipelinedSetEnvelope(this: ConnectionInternals, envelope: unknown, callback: EnvelopeCallback): void {
    const queuedBefore = Array.isArray(this._responseActions) ? this._responseActions.length : -1;
    setEnvelope.call(this, envelope, callback);
    // Exactly one new reply handler means nodemailer accepted the envelope and wrote MAIL FROM (when it
    // refuses one, it calls back with the error and queues nothing).
    const hasWrittenMailFrom = queuedBefore >= 0 && this._responseActions.length === queuedBefore + 1;
    const canPipeline = hasWrittenMailFrom && offersPipelining(this) && Array.isArray(this._envelope?.rcptQueue) && this._envelope.rcptQueue.length > 0;
    if (!canPipeline) return;
    this._responseActions.pop();
    pipelineAfterMailFrom(this, callback);
  };
  proto.send = function chunkedSend(this: ConnectionInternals, envelope: { size?: number }, message: unknown, done: EnvelopeCallback): void {
    const canChunk = message !== undefined && message !== null && message !== '' && Array.isArray(this._responseActions) && this._socket && offersChunking(this);
    if (!canChunk) return send.call(this, envelope, message, done);
    sendChunked(this, setEnvelope, envelope, message, done);
  };
  proto[INSTALLED] = true;
  return true;
}

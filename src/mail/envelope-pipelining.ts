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
 * It leans on nodemailer's private members, so it checks them first and leaves nodemailer alone when
 * one is missing (a nodemailer whose internals changed sends as before, only slower); the tests in
 * test/integration/mail run the pipelined exchange against a server that refuses to answer MAIL FROM
 * before it has read DATA.
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
  _envelope: { to: string[]; rcptQueue: string[]; accepted: string[]; rejected: string[]; rejectedErrors: SmtpError[] };
  _setEnvelope(envelope: unknown, callback: EnvelopeCallback): void;
  _sendCommand(command: string): void;
  _formatError(message: string, code: string, response: string | false, command: string): SmtpError;
  _actionDATA(reply: string, callback: EnvelopeCallback): void;
  _getDsnRcptToArgs(): string;
}

const INSTALLED = Symbol.for('mailotp.envelopePipelining');
const REQUIRED_METHODS = ['_setEnvelope', '_sendCommand', '_formatError', '_actionDATA', '_getDsnRcptToArgs'] as const;

const isPositive = (reply: string): boolean => reply.charAt(0) === '2';

/** Queues the reply handlers for RCPT TO and DATA, then sends them behind the MAIL FROM just written. */
function pipelineAfterMailFrom(connection: ConnectionInternals, callback: EnvelopeCallback): void {
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
    if (senderRefusal) return callback(senderRefusal);
    if (envelope.accepted.length === 0) {
      // As nodemailer reports it. Should a server answer 354 all the same, the failed send makes the
      // pool and the one-shot transport close the connection, so no message follows.
      const refusal = connection._formatError("Can't send mail - all recipients were rejected", 'EENVELOPE', lastRefusal, 'RCPT TO');
      refusal.rejected = envelope.rejected;
      refusal.rejectedErrors = envelope.rejectedErrors;
      return callback(refusal);
    }
    connection._actionDATA(reply, callback);
  });
  for (const recipient of recipients) connection._sendCommand(`RCPT TO:<${recipient}>${connection._getDsnRcptToArgs()}`);
  connection._sendCommand('DATA');
}

/**
 * Teaches nodemailer's SMTPConnection (shared by its pool and its one-shot transport) to pipeline the
 * envelope. Idempotent. Returns false, changing nothing, when the internals it needs are not there.
 */
export function installEnvelopePipelining(connectionClass: { prototype: object } = SMTPConnection): boolean {
  const proto = connectionClass.prototype as Partial<ConnectionInternals> & { [INSTALLED]?: true };
  if (proto[INSTALLED]) return true;
  if (!REQUIRED_METHODS.every((name) => typeof proto[name] === 'function')) return false;
  const setEnvelope = proto._setEnvelope!;
  proto._setEnvelope = function pipelinedSetEnvelope(this: ConnectionInternals, envelope: unknown, callback: EnvelopeCallback): void {
    const queuedBefore = Array.isArray(this._responseActions) ? this._responseActions.length : -1;
    setEnvelope.call(this, envelope, callback);
    // Exactly one new reply handler means nodemailer accepted the envelope and wrote MAIL FROM (when it
    // refuses one, it calls back with the error and queues nothing).
    const hasWrittenMailFrom = queuedBefore >= 0 && this._responseActions.length === queuedBefore + 1;
    const canPipeline = hasWrittenMailFrom && !this.options?.lmtp && Array.isArray(this._supportedExtensions) && this._supportedExtensions.includes('PIPELINING')
      && Array.isArray(this._envelope?.rcptQueue) && this._envelope.rcptQueue.length > 0;
    if (!canPipeline) return;
    this._responseActions.pop();
    pipelineAfterMailFrom(this, callback);
  };
  proto[INSTALLED] = true;
  return true;
}

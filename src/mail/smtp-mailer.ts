import { createHmac, randomBytes } from 'node:crypto';
import net from 'node:net';
import nodemailer, { type Transporter } from 'nodemailer';
import addressparser from 'nodemailer/lib/addressparser/index.js';
import type SMTPPool from 'nodemailer/lib/smtp-pool/index.js';
import type SMTPTransport from 'nodemailer/lib/smtp-transport/index.js';
import { OtpError } from '../core/errors.js';
import type { Mailer, MailMessage, SmtpSettings } from '../core/ports.js';
import { describeSmtpFailure, SmtpFailure } from './describe-smtp-failure.js';
import { installEnvelopePipelining } from './envelope-pipelining.js';
import { buildRawMessage, type RawMessage } from './raw-message.js';

export { describeSmtpFailure, isTransientSmtpFailure, SmtpFailure, type SmtpFailureDescription } from './describe-smtp-failure.js';

export interface SmtpMailerOptions {
  /** Keep connections open between mails (nodemailer's pool), one pool per SMTP server and settings. */
  isPooled: boolean;
  maxConnectionsPerServer: number;
  /**
   * Trusted CAs for tests. Setting `ca` replaces Node's root store for this mailer; production leaves it
   * unset and adds private CAs with NODE_EXTRA_CA_CERTS, which extends the root store instead.
   */
  tls?: { ca?: string | Buffer };
}

interface CachedTransport {
  fingerprint: string;
  transport: Transporter;
  inFlightCount: number;
  /** Superseded by newer settings for the same identifier: close once the last send on it ends. */
  isStale: boolean;
}

type SocketCallback = (error: Error | null, socketOptions?: { connection: net.Socket }) => void;

/**
 * nodemailer connects with Nagle's algorithm on: the last small write of each mail then waits for the
 * server's delayed ACK (about 40 ms on Linux), which caps one connection near 22 mails/s. We open the
 * TCP connection ourselves with TCP_NODELAY and hand it over; nodemailer still does TLS (implicit or
 * STARTTLS) on top, with the same verification. Measured on loopback: 22 -> 660 mails/s per connection.
 *
 * If our connect fails we hand over nothing and nodemailer connects itself, so the failure takes its
 * usual path (an ECONNECTION error that also retires the pool slot; an error from here would leave a
 * dead slot in nodemailer's pool). A blackholed connect therefore waits twice the timeout.
 */
function connectWithoutDelay(host: string, port: number, timeoutMs: number, callback: SocketCallback): void {
  const socket = coalesceWrites(net.connect({ host, port, noDelay: true }));
  let isSettled = false;
  const settle = (isConnected: boolean): void => {
    if (isSettled) return;
    isSettled = true;
    clearTimeout(timer);
    socket.removeAllListeners('error');
    if (isConnected) {
      callback(null, { connection: socket });
    } else {
      socket.destroy();
      callback(null);
    }
  };
  const timer = setTimeout(() => settle(false), timeoutMs);
  socket.once('connect', () => settle(true));
  socket.once('error', () => settle(false));
}

/**
 * Without Nagle every write is a TCP segment, and nodemailer writes a message as the pieces its MIME
 * streams produce: headers, each body chunk, CRLF, the final dot - five segments, five wake-ups of the
 * SMTP server and five system calls here, for a 500-byte mail. Writes made in one turn of the event loop
 * are gathered (cork) and leave together at its end (uncork: one writev), which is still long before any
 * delayed ACK. Only the plain TCP socket sees these writes; under TLS nodemailer writes through its own
 * TLS socket, which sends each record as it comes.
 */
function coalesceWrites(socket: net.Socket): net.Socket {
  const write = socket.write;
  let isCorked = false;
  const uncork = (): void => {
    isCorked = false;
    socket.uncork();
  };
  socket.write = function coalescedWrite(this: net.Socket, ...args: Parameters<net.Socket['write']>): boolean {
    if (!isCorked) {
      isCorked = true;
      socket.cork();
      setImmediate(uncork);
    }
    return write.apply(this, args);
  } as net.Socket['write'];
  return socket;
}

/** nodemailer's options for one SMTP server: verified TLS, AUTH only with a username, every wait bounded. */
function transportOptions(settings: SmtpSettings, options: SmtpMailerOptions): SMTPTransport.Options | SMTPPool.Options {
  const timeoutMs = settings.timeoutSeconds * 1000;
  const hasAuth = settings.username !== '';
  return {
    host: settings.host,
    port: settings.port,
    secure: settings.isImplicitTls,
    requireTLS: settings.isStartTlsRequired,
    // With a username, AUTH is mandatory: forceAuth makes nodemailer fail (EAUTH) instead of silently
    // sending unauthenticated when the server does not advertise AUTH. Without one, no AUTH at all.
    ...(hasAuth ? { auth: { user: settings.username, pass: settings.password }, forceAuth: true } : {}),
    connectionTimeout: timeoutMs,
    greetingTimeout: timeoutMs,
    socketTimeout: timeoutMs,
    dnsTimeout: timeoutMs,
    // Certificates are always verified (privacyIDEA's smtplib does not). nodemailer sets the SNI name
    // itself, and only for host names: an IP as servername is invalid (RFC 6066) and makes Node warn.
    tls: { rejectUnauthorized: true, ...(options.tls?.ca ? { ca: options.tls.ca } : {}) },
    ...(options.isPooled ? { pool: true, maxConnections: options.maxConnectionsPerServer, maxMessages: 1000 } : {}),
    getSocket: (_options: unknown, callback: SocketCallback) => connectWithoutDelay(settings.host, settings.port, timeoutMs, callback),
    logger: false,
    debug: false,
  };
}

/**
 * What nodemailer's SMTP transports read of a mail (lib/smtp-pool/index.js, lib/smtp-pool/pool-resource.js
 * and lib/smtp-transport/index.js, 7.x): the envelope, the Message-ID and the message itself, which may be
 * a Buffer; `data` holds per-mail options (DSN, REQUIRETLS, AUTH), of which mailotp sets none.
 */
interface TransportMail {
  data: Record<string, never>;
  message: {
    getEnvelope(): { from: string; to: string[] };
    messageId(): string;
    getHeader(key: string): string | undefined;
    createReadStream(): Buffer;
  };
}

/**
 * A message built by buildRawMessage, as the transport reads it. Mailer.sendMail would wrap the same bytes
 * in a MailMessage, run its plugin hooks, build a MIME tree around them, parse the envelope back out of
 * their headers and stream them through newline transforms, only for the mailer to gather them into one
 * buffer again (envelope-pipelining.ts). Handed to the transport directly, the bytes, the envelope and the
 * Message-ID are the ones sendMail would have sent. With the hand-off of the mail's open content
 * (HandOff, outbox-entry.ts) that took 0.1-0.4 ms off the event loop's 1.9-2.3 ms a full flow at 16
 * concurrent flows beside the default KDF (scratch A/B rounds on the 08:54 run's VM; docs/performance.md).
 */
function transportMail(prebuilt: RawMessage, messageId: string): TransportMail {
  const bytes = Buffer.from(prebuilt.raw);
  return {
    data: {},
    message: {
      getEnvelope: () => ({ from: prebuilt.envelope.from, to: [...prebuilt.envelope.to] }),
      messageId: () => messageId,
      getHeader: (key) => (key.toLowerCase() === 'message-id' ? messageId : undefined),
      createReadStream: () => bytes,
    },
  };
}

/** The transport nodemailer's Mailer wraps, as its `send` takes a TransportMail. */
interface MailTransport {
  send(mail: TransportMail, callback: (error: Error | null) => void): unknown;
}

/**
 * Sends through the transport itself. Its pool refuses a mail only once closed, and it is closed only by
 * closeEntry, which never runs between acquire() and this call (both happen before send()'s first await).
 */
function sendThroughTransport(transport: Transporter, mail: TransportMail): Promise<void> {
  const transporter = transport.transporter as unknown as MailTransport;
  return new Promise((resolve, reject) => {
    transporter.send(mail, (error) => (error ? reject(error) : resolve()));
  });
}

/** The message's one recipient; a list here means a bad address slipped past validation, so refuse it. */
function singleRecipient(to: string): string {
  const addresses = addressparser(to, { flatten: true });
  const address = addresses[0]?.address ?? '';
  if (addresses.length !== 1 || address === '') {
    throw new OtpError('MAIL_DELIVERY_FAILED', {
      detail: `refused a recipient list of ${addresses.length} addresses`,
      cause: new SmtpFailure({ code: 'EENVELOPE', responseCode: undefined, command: 'API', isCertificateFailure: false, isTransient: false, detail: 'EENVELOPE API' }),
    });
  }
  return address;
}

/** The Mailer port on nodemailer: plain SMTP, STARTTLS, implicit TLS, AUTH only with a username. */
export function createSmtpMailer(options: SmtpMailerOptions): Mailer {
  // MAIL FROM, RCPT TO and DATA in one round trip to servers that offer PIPELINING (envelope-pipelining.ts).
  installEnvelopePipelining();
  // Keyed so the cache key, which covers the password, reveals nothing about it even in a heap dump.
  const fingerprintKey = randomBytes(32);
  // Per settings object: the system server's reaches every mail as one object until the settings change
  // (resolve-smtp.ts), so a mail costs no JSON and HMAC of it. A caller that changes an object it has
  // sent with would keep the old key, and mailotp's are frozen.
  const fingerprints = new WeakMap<SmtpSettings, string>();
  const fingerprint = (settings: SmtpSettings): string => {
    let key = fingerprints.get(settings);
    if (key === undefined) {
      key = createHmac('sha256', fingerprintKey).update(JSON.stringify(settings)).digest('hex');
      fingerprints.set(settings, key);
    }
    return key;
  };
  /** The current pooled transport per SMTP server identifier. */
  const pools = new Map<string, CachedTransport>();
  /** Every transport not yet closed: current pools, stale pools still sending, one-shot transports. */
  const open = new Set<CachedTransport>();

  function closeEntry(entry: CachedTransport): void {
    open.delete(entry);
    entry.transport.close();
  }

  function acquire(settings: SmtpSettings): CachedTransport {
    const key = fingerprint(settings);
    if (options.isPooled) {
      const current = pools.get(settings.identifier);
      if (current?.fingerprint === key) return current;
      if (current) {
        // The server, password or another setting changed: new mails use a new pool, the old one ends.
        current.isStale = true;
        if (current.inFlightCount === 0) closeEntry(current);
      }
    }
    const entry: CachedTransport = {
      fingerprint: key,
      transport: nodemailer.createTransport(transportOptions(settings, options)),
      inFlightCount: 0,
      isStale: !options.isPooled,
    };
    if (options.isPooled) pools.set(settings.identifier, entry);
    open.add(entry);
    return entry;
  }

  function release(entry: CachedTransport): void {
    entry.inFlightCount -= 1;
    if (entry.isStale && entry.inFlightCount === 0) closeEntry(entry);
  }

  return {
    async send(settings: SmtpSettings, message: MailMessage): Promise<void> {
      const to = singleRecipient(message.to);
      const entry = acquire(settings);
      entry.inFlightCount += 1;
      try {
        const prebuilt = buildRawMessage(message, to, new Date());
        if (prebuilt) {
          await sendThroughTransport(entry.transport, transportMail(prebuilt, message.messageId));
        } else {
          // messageId spares nodemailer generating one it would only report back.
          await entry.transport.sendMail({
            from: message.from,
            to,
            subject: message.subject,
            text: message.text,
            ...(message.html ? { html: message.html } : {}),
            messageId: message.messageId,
            disableFileAccess: true,
            disableUrlAccess: true,
          });
        }
      } catch (error) {
        const failure = describeSmtpFailure(error);
        // The cause is the sanitized SmtpFailure, not nodemailer's error: that one carries the server's
        // reply text, which loggers print with the cause chain.
        throw new OtpError('MAIL_DELIVERY_FAILED', {
          detail: `${settings.identifier}: ${failure.detail} (${failure.isTransient ? 'transient' : 'permanent'})`,
          cause: new SmtpFailure(failure),
          isRetryable: failure.isTransient,
        });
      } finally {
        release(entry);
      }
    },
    async close(): Promise<void> {
      for (const entry of [...open]) closeEntry(entry);
      pools.clear();
    },
  };
}

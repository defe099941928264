import { createHash } from 'node:crypto';
import nodemailer, { type Transporter } from 'nodemailer';
import { OtpError } from '../core/errors.js';
import type { Mailer, MailMessage, SmtpSettings } from '../core/ports.js';

export interface SmtpMailerOptions {
  /** Keep connections open between mails (nodemailer's pool). */
  isPooled: boolean;
  maxConnectionsPerServer: number;
  /** Extra TLS options for tests (a private CA); production relies on NODE_EXTRA_CA_CERTS. */
  tls?: { ca?: string | Buffer };
}

/** nodemailer codes whose failure may pass if tried again (network, timeouts, 4xx replies). */
const TRANSIENT_CODES = new Set(['ECONNECTION', 'ETIMEDOUT', 'ESOCKET', 'EDNS', 'ECONNRESET', 'ECONNREFUSED']);

export function describeSmtpFailure(error: unknown): { detail: string; isTransient: boolean } {
  const failure = error as { code?: string; responseCode?: number; command?: string } | null;
  const code = failure?.code ?? 'EUNKNOWN';
  const responseCode = failure?.responseCode;
  const isTransient = responseCode !== undefined ? responseCode >= 400 && responseCode < 500 : TRANSIENT_CODES.has(code);
  // Only codes and the SMTP command: server reply texts can echo addresses or credentials.
  const detail = [code, responseCode, failure?.command].filter((part) => part !== undefined).join(' ');
  return { detail, isTransient };
}

function fingerprint(settings: SmtpSettings): string {
  return createHash('sha256').update(JSON.stringify(settings)).digest('hex');
}

/** The Mailer port on nodemailer: plain SMTP, STARTTLS, implicit TLS, AUTH only with a username. */
export function createSmtpMailer(options: SmtpMailerOptions): Mailer {
  const transports = new Map<string, Transporter>();

  function transportFor(settings: SmtpSettings): Transporter {
    const key = fingerprint(settings);
    let transport = transports.get(key);
    if (!transport) {
      const timeoutMs = settings.timeoutSeconds * 1000;
      transport = nodemailer.createTransport({
        host: settings.host,
        port: settings.port,
        secure: settings.isImplicitTls,
        requireTLS: settings.isStartTlsRequired,
        ...(settings.username !== '' ? { auth: { user: settings.username, pass: settings.password } } : {}),
        connectionTimeout: timeoutMs,
        greetingTimeout: timeoutMs,
        socketTimeout: timeoutMs,
        // Certificates are always verified (privacyIDEA's smtplib does not); private CAs via NODE_EXTRA_CA_CERTS.
        tls: { rejectUnauthorized: true, servername: settings.host, ...(options.tls?.ca ? { ca: options.tls.ca } : {}) },
        ...(options.isPooled ? { pool: true, maxConnections: options.maxConnectionsPerServer, maxMessages: 1000 } : {}),
        logger: false,
        debug: false,
      } as nodemailer.TransportOptions);
      transports.set(key, transport);
    }
    return transport;
  }

  return {
    async send(settings: SmtpSettings, message: MailMessage): Promise<void> {
      try {
        await transportFor(settings).sendMail({
          from: message.from,
          to: message.to,
          subject: message.subject,
          text: message.text,
          ...(message.html ? { html: message.html } : {}),
          messageId: message.messageId,
          disableFileAccess: true,
          disableUrlAccess: true,
        });
      } catch (error) {
        const { detail, isTransient } = describeSmtpFailure(error);
        if (!options.isPooled) transports.delete(fingerprint(settings));
        throw new OtpError('MAIL_DELIVERY_FAILED', { detail: `${settings.identifier}: ${detail}${isTransient ? ' (transient)' : ''}`, cause: error });
      } finally {
        if (!options.isPooled) {
          transports.get(fingerprint(settings))?.close();
          transports.delete(fingerprint(settings));
        }
      }
    },
    async close(): Promise<void> {
      for (const transport of transports.values()) transport.close();
      transports.clear();
    },
  };
}

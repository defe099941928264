import { isOtpError } from '../core/errors.js';

/** What is known about a failed SMTP delivery, free of server reply text and credentials. */
export interface SmtpFailureDescription {
  /** nodemailer's code (ECONNECTION, ETIMEDOUT, ESOCKET, EDNS, EAUTH, ETLS, EENVELOPE, ...) or EUNKNOWN. */
  code: string;
  /** The SMTP reply code, when the server answered (e.g. 535, 450, 550). */
  responseCode: number | undefined;
  /** The SMTP command or stage that failed (CONN, AUTH PLAIN, RCPT TO, ...). */
  command: string | undefined;
  /** The local TLS stack refused the server's certificate. */
  isCertificateFailure: boolean;
  /** Trying again later may succeed: network trouble, timeouts, 4xx replies. */
  isTransient: boolean;
  /** "EAUTH 535 AUTH PLAIN" style text for logs and OtpError.detail. */
  detail: string;
}

/** Codes for a network that failed us, not a server that refused us: worth another try. */
const TRANSIENT_CODES: ReadonlySet<string> = new Set([
  'ECONNECTION', 'ETIMEDOUT', 'ESOCKET', 'EDNS',
  // Raw Node socket codes, in case an error reaches us without nodemailer's wrapping.
  'ECONNREFUSED', 'ECONNRESET', 'EPIPE', 'EHOSTUNREACH', 'ENETUNREACH', 'EAI_AGAIN',
]);

/**
 * Node reports certificate verification failures with OpenSSL's texts; nodemailer then replaces the
 * error's code with ESOCKET (implicit TLS) or ETLS (STARTTLS), so the message is all that is left.
 */
const CERTIFICATE_FAILURE = /certificate|altnames|\bcert\b/i;

/** The sanitized failure kept as an OtpError's cause: codes only, so logging the cause chain leaks nothing. */
export class SmtpFailure extends Error {
  override readonly name = 'SmtpFailure';
  readonly code: string;
  readonly responseCode: number | undefined;
  readonly command: string | undefined;
  readonly isCertificateFailure: boolean;
  readonly isTransient: boolean;

  constructor(description: SmtpFailureDescription) {
    super(description.detail);
    this.code = description.code;
    this.responseCode = description.responseCode;
    this.command = description.command;
    this.isCertificateFailure = description.isCertificateFailure;
    this.isTransient = description.isTransient;
  }
}

function describeRaw(error: unknown): SmtpFailureDescription {
  const failure = (typeof error === 'object' && error !== null ? error : {}) as {
    code?: unknown; responseCode?: unknown; command?: unknown; message?: unknown;
  };
  const code = typeof failure.code === 'string' && /^[A-Z0-9_]{1,40}$/.test(failure.code) ? failure.code : 'EUNKNOWN';
  const responseCode = typeof failure.responseCode === 'number' && failure.responseCode >= 200 && failure.responseCode < 600
    ? failure.responseCode
    : undefined;
  // nodemailer's commands are its own constants ("AUTH PLAIN", "RCPT TO"), never the credentials it sent.
  const command = typeof failure.command === 'string' && /^[A-Z0-9 -]{1,20}$/.test(failure.command) ? failure.command : undefined;
  const message = typeof failure.message === 'string' ? failure.message : '';
  const isCertificateFailure = ['ESOCKET', 'ETLS'].includes(code) && responseCode === undefined && CERTIFICATE_FAILURE.test(message);
  let isTransient: boolean;
  if (responseCode !== undefined) {
    // The server said it: 4xx means "try again later" (RFC 5321 4.2.1), 5xx means "do not", AUTH included.
    isTransient = responseCode >= 400 && responseCode < 500;
  } else if (isCertificateFailure) {
    // An untrusted or mismatched certificate stays so until an operator acts; retrying only delays the alarm.
    isTransient = false;
  } else {
    // EAUTH without a reply (no credentials, no common mechanism), ETLS, EENVELOPE, EMESSAGE, EPROTOCOL and
    // anything unknown are permanent: "transient" is a claim that retrying helps, made only when we know.
    isTransient = TRANSIENT_CODES.has(code);
  }
  const detail = [code, responseCode, command, isCertificateFailure ? 'certificate rejected' : undefined]
    .filter((part) => part !== undefined)
    .join(' ');
  return { code, responseCode, command, isCertificateFailure, isTransient, detail };
}

/**
 * Classifies a failed delivery for retry decisions: a nodemailer error, or the OtpError('MAIL_DELIVERY_FAILED')
 * that the SMTP mailer throws (its cause is an SmtpFailure). Reply texts are never read into the result,
 * because servers echo addresses and, badly written ones, credentials.
 */
export function describeSmtpFailure(error: unknown): SmtpFailureDescription {
  const cause = isOtpError(error) ? error.cause : error;
  if (cause instanceof SmtpFailure) {
    return {
      code: cause.code,
      responseCode: cause.responseCode,
      command: cause.command,
      isCertificateFailure: cause.isCertificateFailure,
      isTransient: cause.isTransient,
      detail: cause.message,
    };
  }
  return describeRaw(cause);
}

/** Whether a failed delivery is worth another attempt later. */
export function isTransientSmtpFailure(error: unknown): boolean {
  return describeSmtpFailure(error).isTransient;
}

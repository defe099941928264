/**
 * The one error catalogue. Every error a client can see is declared here with its HTTP status, its
 * privacyIDEA error code (privacyidea/lib/error.py numbering, so clients that switch on it keep working)
 * and a fixed public message. `{name}` placeholders are filled from `OtpError.publicParams`, which must
 * never carry a secret; the private `detail` goes to logs only.
 *
 * Codes are append-only: never rename or reuse one (docs/errors.md lists them for operators).
 */
export const ERROR_CATALOGUE = {
  // request shape
  PARAMETER_MISSING: { httpStatus: 400, piCode: 905, message: 'ERR905: Missing parameter: {name}' },
  PARAMETER_INVALID: { httpStatus: 400, piCode: 905, message: 'ERR905: Invalid parameter {name}: {reason}' },
  PARAMETER_UNKNOWN: { httpStatus: 400, piCode: 905, message: 'ERR905: Unknown parameter: {name}' },
  PARAMETER_NO_SUBJECT: { httpStatus: 400, piCode: 905, message: 'ERR905: You need to specify a serial, user or credential_id.' },
  SERIAL_NOT_OWNED: { httpStatus: 400, piCode: 905, message: 'ERR905: Given serial does not belong to given user!' },
  REQUEST_MALFORMED: { httpStatus: 400, piCode: 905, message: 'ERR905: The request body could not be parsed: {reason}' },
  REQUEST_TOO_LARGE: { httpStatus: 413, piCode: 905, message: 'ERR905: The request body is too large.' },
  REQUEST_UNSUPPORTED_MEDIA: { httpStatus: 415, piCode: 905, message: 'ERR905: Unsupported content type: {type}' },
  ROUTE_NOT_FOUND: { httpStatus: 404, piCode: 601, message: 'The requested URL was not found on the server.' },
  // users, realms, resolvers
  USER_NOT_FOUND: { httpStatus: 400, piCode: 904, message: 'ERR904: User <{user}> does not exist.' },
  USER_EXISTS: { httpStatus: 400, piCode: 904, message: 'ERR904: User <{user}> already exists.' },
  USER_INVALID: { httpStatus: 400, piCode: 905, message: 'ERR905: Invalid user.' },
  REALM_NOT_FOUND: { httpStatus: 400, piCode: 904, message: 'ERR904: Realm {realm} does not exist.' },
  RESOLVER_NOT_FOUND: { httpStatus: 400, piCode: 904, message: 'ERR904: Resolver {resolver} does not exist.' },
  // tokens
  TOKEN_NOT_FOUND: { httpStatus: 404, piCode: 601, message: 'No token found for serials: {serial}' },
  TOKEN_TYPE_UNKNOWN: { httpStatus: 400, piCode: 1610, message: 'ERR1610: init token failed. Unknown token type: {type}' },
  TOKEN_SERIAL_EXISTS: { httpStatus: 400, piCode: 1007, message: 'ERR1007: A token with serial {serial} already exists.' },
  TOKEN_NO_EMAIL: { httpStatus: 400, piCode: 905, message: 'ERR905: Missing parameter: email' },
  // admin authentication
  AUTH_WRONG_CREDENTIALS: { httpStatus: 401, piCode: 4031, message: 'Authentication failure. Wrong credentials' },
  AUTH_NO_USERNAME: { httpStatus: 401, piCode: 4032, message: 'Authentication failure. Missing Username' },
  AUTH_REQUIRED: { httpStatus: 401, piCode: 4033, message: 'Authentication failure. Missing Authorization header.' },
  AUTH_TOKEN_INVALID: { httpStatus: 401, piCode: 4304, message: 'Authentication failure. Your token is invalid.' },
  AUTH_TOKEN_EXPIRED: { httpStatus: 401, piCode: 4305, message: 'Authentication failure. Your token has expired.' },
  // settings
  SETTING_UNKNOWN: { httpStatus: 400, piCode: 905, message: 'ERR905: Unknown configuration key: {key}' },
  SETTING_INVALID: { httpStatus: 400, piCode: 905, message: 'ERR905: Invalid value for {key}: {reason}' },
  TEMPLATE_INVALID: { httpStatus: 400, piCode: 905, message: 'ERR905: Invalid template in {key}: unknown tag {tag}' },
  SMTP_SERVER_NOT_FOUND: { httpStatus: 404, piCode: 601, message: 'SMTP server {identifier} does not exist.' },
  // limits
  RATE_LIMITED: { httpStatus: 429, piCode: 303, message: 'Too many requests. Retry after {seconds} seconds.' },
  // infrastructure
  MAIL_DELIVERY_FAILED: { httpStatus: 502, piCode: 903, message: 'ERR903: The email could not be sent.' },
  MAIL_NOT_CONFIGURED: { httpStatus: 400, piCode: 905, message: 'ERR905: No mail server is configured.' },
  STORE_UNAVAILABLE: { httpStatus: 503, piCode: 902, message: 'ERR902: The database is not available.' },
  CONFIG_INVALID: { httpStatus: 500, piCode: -500, message: 'The server configuration is invalid.' },
  SERVER_ERROR: { httpStatus: 500, piCode: -500, message: 'An internal server error occurred.' },
} as const satisfies Record<string, { httpStatus: number; piCode: number; message: string }>;

export type ErrorCode = keyof typeof ERROR_CATALOGUE;

export interface OtpErrorOptions {
  /** Non-secret values for the public message's `{placeholders}`. */
  publicParams?: Record<string, string>;
  /** Private detail for logs and the audit trail; never sent to a client. */
  detail?: string;
  cause?: unknown;
  /** For infrastructure failures: trying again later may succeed (a 4xx SMTP reply, a timeout). */
  isRetryable?: boolean;
  /** For RATE_LIMITED: sent as the Retry-After header. */
  retryAfterSeconds?: number;
}

export class OtpError extends Error {
  override readonly name = 'OtpError';
  readonly code: ErrorCode;
  readonly detail: string | undefined;
  readonly publicParams: Readonly<Record<string, string>>;
  readonly isRetryable: boolean;
  readonly retryAfterSeconds: number | undefined;

  constructor(code: ErrorCode, options: OtpErrorOptions = {}) {
    super(`${code}${options.detail ? `: ${options.detail}` : ''}`, options.cause === undefined ? undefined : { cause: options.cause });
    this.code = code;
    this.detail = options.detail;
    this.publicParams = Object.freeze({ ...(options.publicParams ?? {}) });
    this.isRetryable = options.isRetryable ?? false;
    this.retryAfterSeconds = options.retryAfterSeconds;
  }

  get httpStatus(): number {
    return ERROR_CATALOGUE[this.code].httpStatus;
  }

  get piCode(): number {
    return ERROR_CATALOGUE[this.code].piCode;
  }

  /** The text a client sees: the catalogue template with its public placeholders filled. */
  get publicMessage(): string {
    return ERROR_CATALOGUE[this.code].message.replace(/\{(\w+)\}/g, (_m, key: string) => this.publicParams[key] ?? '');
  }
}

export function isOtpError(value: unknown): value is OtpError {
  return value instanceof OtpError;
}

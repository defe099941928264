import { ERROR_CATALOGUE, type OtpError } from '../core/errors.js';

export const PRODUCT_VERSION = '0.1.0';
const VERSION_TEXT = `mailotp ${PRODUCT_VERSION}`;

export type Authentication = 'ACCEPT' | 'CHALLENGE' | 'REJECT';

/** privacyIDEA's detail.threadid: any per-process integer; the pid will do. */
const THREAD_ID = process.pid;

function epochSeconds(): number {
  return Date.now() / 1000;
}

/** The fields every privacyIDEA response has (SPEC A.0). */
function envelope(id: 1 | 2, result: Record<string, unknown>, detail: Record<string, unknown>): Record<string, unknown> {
  return { jsonrpc: '2.0', id, time: epochSeconds(), version: VERSION_TEXT, versionnumber: PRODUCT_VERSION, result, detail };
}

/** privacyIDEA's success envelope: id 1 for admin calls. */
export function successEnvelope(value: unknown, detail?: Record<string, unknown>): Record<string, unknown> {
  return envelope(1, { status: true, value }, { ...(detail ?? {}), threadid: THREAD_ID });
}

/** /validate and /auth: id 2 and `result.authentication`. */
export function authenticationEnvelope(value: unknown, authentication: Authentication, detail: Record<string, unknown>): Record<string, unknown> {
  return envelope(2, { status: true, value, authentication }, { ...detail, threadid: THREAD_ID });
}

/** privacyIDEA's error envelope; `detail.error_code` is our stable code (privacyIDEA sends detail: null). */
export function errorEnvelope(error: OtpError): Record<string, unknown> {
  return envelope(1, { status: false, error: { code: ERROR_CATALOGUE[error.code].piCode, message: error.publicMessage } }, { error_code: error.code });
}

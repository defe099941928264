import { ERROR_CATALOGUE, type OtpError } from '../core/errors.js';

export const PRODUCT_VERSION = '0.1.0';
const VERSION_TEXT = `mailotp ${PRODUCT_VERSION}`;

export type Authentication = 'ACCEPT' | 'CHALLENGE' | 'REJECT';

/** privacyIDEA's detail.threadid: any per-process integer; the pid will do. */
const THREAD_ID = process.pid;

function epochSeconds(): number {
  return Date.now() / 1000;
}

/** privacyIDEA's success envelope (SPEC A.0): id 1 for admin calls, id 2 with `authentication` for /validate and /auth. */
export function successEnvelope(value: unknown, detail?: Record<string, unknown>): Record<string, unknown> {
  return {
    jsonrpc: '2.0',
    id: 1,
    time: epochSeconds(),
    version: VERSION_TEXT,
    versionnumber: PRODUCT_VERSION,
    result: { status: true, value },
    detail: { ...(detail ?? {}), threadid: THREAD_ID },
  };
}

export function authenticationEnvelope(value: unknown, authentication: Authentication, detail: Record<string, unknown>): Record<string, unknown> {
  return {
    jsonrpc: '2.0',
    id: 2,
    time: epochSeconds(),
    version: VERSION_TEXT,
    versionnumber: PRODUCT_VERSION,
    result: { status: true, value, authentication },
    detail: { ...detail, threadid: THREAD_ID },
  };
}

/** privacyIDEA's error envelope; `detail.error_code` is our stable code (privacyIDEA sends detail: null). */
export function errorEnvelope(error: OtpError): Record<string, unknown> {
  return {
    jsonrpc: '2.0',
    id: 1,
    time: epochSeconds(),
    version: VERSION_TEXT,
    versionnumber: PRODUCT_VERSION,
    result: { status: false, error: { code: ERROR_CATALOGUE[error.code].piCode, message: error.publicMessage } },
    detail: { error_code: error.code },
  };
}

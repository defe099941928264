import type { FastifyRequest } from 'fastify';
import { OtpError } from '../core/errors.js';
import { parseBoolean } from '../core/settings/system-settings.js';

export type Params = Readonly<Record<string, unknown>>;

/**
 * User agents privacyIDEA does not URL-decode a second time (api/lib/utils.py NO_UNQUOTE_USER_AGENTS):
 * their clients encode once. Everyone else (FreeRADIUS encodes user and pass twice) is decoded again.
 */
const NO_UNQUOTE_USER_AGENTS = new Set(['privacyidea-cp', 'privacyidea-ldap-proxy', 'simplesamlphp']);
const USER_AGENT_PRODUCT = /^([a-zA-Z0-9_-]+)(\/\d+[\d.]*)?(\s.*)?$/;

/** The product token of a User-Agent ("PAM/1.1.0" -> "PAM"), parsed as privacyIDEA does; undefined if none. */
export function userAgentProduct(userAgent: string | undefined): string | undefined {
  return USER_AGENT_PRODUCT.exec(userAgent ?? '')?.[1];
}

export function isSecondDecodeWanted(userAgent: string | undefined): boolean {
  const product = userAgentProduct(userAgent);
  return !product || !NO_UNQUOTE_USER_AGENTS.has(product.toLowerCase());
}

/**
 * Python's urllib.parse.unquote: runs of valid %XX escapes become UTF-8 text (invalid bytes U+FFFD),
 * a stray % stays, and + stays + (it is not a space here).
 */
export function pythonUnquote(value: string): string {
  if (!value.includes('%')) return value;
  return value.replace(/(?:%[0-9A-Fa-f]{2})+/g, (run) => Buffer.from(run.replace(/%/g, ''), 'hex').toString('utf8'));
}

function firstValue(value: unknown): unknown {
  return Array.isArray(value) ? value[0] : value;
}

/**
 * Request parameters the privacyIDEA way: query string and form fields (first value per key, decoded a
 * second time for most user agents), overridden by a JSON body (never re-decoded), then path parameters.
 */
export function readParams(request: FastifyRequest): Params {
  const decode = isSecondDecodeWanted(request.headers['user-agent']);
  const merged: Record<string, unknown> = Object.create(null) as Record<string, unknown>;
  const addDecoded = (source: unknown): void => {
    if (!source || typeof source !== 'object') return;
    for (const [key, raw] of Object.entries(source)) {
      const value = firstValue(raw);
      merged[key] = decode && typeof value === 'string' ? pythonUnquote(value) : value;
    }
  };
  addDecoded(request.query);
  const isJson = (request.headers['content-type'] ?? '').toLowerCase().includes('json');
  if (isJson) {
    const body = request.body;
    if (body !== undefined && body !== null && (typeof body !== 'object' || Array.isArray(body))) {
      throw new OtpError('REQUEST_MALFORMED', { publicParams: { reason: 'a JSON body must be an object' } });
    }
    if (body) Object.assign(merged, body);
  } else {
    addDecoded(request.body);
  }
  addDecoded(request.params);
  return merged;
}

/** Rejects parameters the endpoint does not know: a typo must not silently change what happens. */
export function rejectUnknownParams(params: Params, allowed: readonly string[]): void {
  for (const key of Object.keys(params)) {
    if (!allowed.includes(key)) throw new OtpError('PARAMETER_UNKNOWN', { publicParams: { name: key.slice(0, 64).replace(/[^\w.@-]/g, '?') } });
  }
}

const MAX_PARAM_LENGTH = 4096;

export function optionalString(params: Params, name: string): string | undefined {
  const value = params[name];
  if (value === undefined || value === null) return undefined;
  if (typeof value === 'number' || typeof value === 'boolean') return String(value);
  if (typeof value !== 'string') throw new OtpError('PARAMETER_INVALID', { publicParams: { name, reason: 'expected a string' } });
  if (value.length > MAX_PARAM_LENGTH) throw new OtpError('PARAMETER_INVALID', { publicParams: { name, reason: 'too long' } });
  if (value.includes('\0')) throw new OtpError('PARAMETER_INVALID', { publicParams: { name, reason: 'contains a NUL character' } });
  return value;
}

export function requireString(params: Params, name: string): string {
  const value = optionalString(params, name);
  if (value === undefined || value === '') throw new OtpError('PARAMETER_MISSING', { publicParams: { name } });
  return value;
}

export function optionalBoolean(params: Params, name: string): boolean | undefined {
  const value = params[name];
  if (value === undefined || value === null) return undefined;
  if (typeof value === 'boolean') return value;
  const parsed = typeof value === 'string' || typeof value === 'number' ? parseBoolean(String(value)) : undefined;
  if (parsed === undefined) throw new OtpError('PARAMETER_INVALID', { publicParams: { name, reason: 'expected true or false' } });
  return parsed;
}

export function optionalInteger(params: Params, name: string, min: number, max: number): number | undefined {
  const value = params[name];
  if (value === undefined || value === null || value === '') return undefined;
  const text = typeof value === 'number' ? String(value) : typeof value === 'string' ? value.trim() : '';
  if (!/^-?\d{1,12}$/.test(text) || Number(text) < min || Number(text) > max) {
    throw new OtpError('PARAMETER_INVALID', { publicParams: { name, reason: `expected a whole number from ${min} to ${max}` } });
  }
  return Number(text);
}

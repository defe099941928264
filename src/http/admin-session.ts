import { createHmac } from 'node:crypto';
import type { FastifyRequest } from 'fastify';
import type { Clock } from '../core/ports.js';
import { constantTimeEqual } from '../core/crypto/constant-time-equal.js';
import { OtpError } from '../core/errors.js';

export interface AdminClaims {
  username: string;
  role: 'admin';
  realm: string;
  authtype: 'password';
  iat: number;
  exp: number;
  nonce: number;
}

const HEADER = Buffer.from(JSON.stringify({ alg: 'HS256', typ: 'JWT' })).toString('base64url');

/**
 * HS256 JWTs for admin sessions, sent raw in Authorization or PI-Authorization as privacyIDEA clients do.
 * The payload is nudged (the `nonce` claim) until its base64url text has no "-" or "_": the privacyIDEA
 * Java client (Keycloak provider) decodes the payload with the standard, non-URL Base64 alphabet.
 */
export function createAdminSessions(key: Uint8Array, clock: Clock, lifetimeSeconds: number) {
  const keyCopy = Buffer.from(key);
  const sign = (data: string): string => createHmac('sha256', keyCopy).update(data).digest('base64url');

  function issue(username: string): { token: string; claims: AdminClaims } {
    const iat = Math.floor(clock.nowMilliseconds() / 1000);
    for (let nonce = 0; ; nonce += 1) {
      const claims: AdminClaims = { username, role: 'admin', realm: '', authtype: 'password', iat, exp: iat + lifetimeSeconds, nonce };
      const payload = Buffer.from(JSON.stringify(claims)).toString('base64url');
      if (/[-_]/.test(payload) && nonce < 10_000) continue;
      return { token: `${HEADER}.${payload}.${sign(`${HEADER}.${payload}`)}`, claims };
    }
  }

  function verify(token: string): AdminClaims {
    const [header, payload, signature, extra] = token.split('.');
    if (header !== HEADER || payload === undefined || signature === undefined || extra !== undefined) {
      throw new OtpError('AUTH_TOKEN_INVALID');
    }
    if (!constantTimeEqual(signature, sign(`${header}.${payload}`))) throw new OtpError('AUTH_TOKEN_INVALID');
    let claims: AdminClaims;
    try {
      claims = JSON.parse(Buffer.from(payload, 'base64url').toString('utf8')) as AdminClaims;
    } catch (error) {
      throw new OtpError('AUTH_TOKEN_INVALID', { cause: error });
    }
    if (claims.role !== 'admin' || typeof claims.username !== 'string' || typeof claims.exp !== 'number') throw new OtpError('AUTH_TOKEN_INVALID');
    if (claims.exp * 1000 <= clock.nowMilliseconds()) throw new OtpError('AUTH_TOKEN_EXPIRED');
    return claims;
  }

  /** Reads PI-Authorization, then Authorization; accepts a raw JWT (privacyIDEA) or "Bearer <jwt>". */
  function authenticate(request: FastifyRequest): AdminClaims {
    const raw = request.headers['pi-authorization'] ?? request.headers['authorization'];
    const value = (Array.isArray(raw) ? raw[0] : raw)?.trim();
    if (!value) throw new OtpError('AUTH_REQUIRED');
    return verify(value.replace(/^Bearer\s+/i, ''));
  }

  return { issue, verify, authenticate };
}

export type AdminSessions = ReturnType<typeof createAdminSessions>;

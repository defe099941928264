import { hkdfSync, randomBytes } from 'node:crypto';
import { chmodSync, linkSync, mkdirSync, readFileSync, statSync, unlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { OtpError } from '../core/errors.js';

/** Keys derived from one master key, one per purpose, so no key serves two algorithms. */
export interface ServerKeys {
  otpHmacKey: Uint8Array;
  encryptionKey: Uint8Array;
  jwtKey: Uint8Array;
  pinPepper: Uint8Array;
}

export const KEY_FILE_NAME = 'mailotp.key';

export function deriveServerKeys(masterKey: Uint8Array): ServerKeys {
  if (masterKey.byteLength < 32) throw new OtpError('CONFIG_INVALID', { detail: 'the master key must be at least 32 bytes' });
  const derive = (purpose: string): Uint8Array => new Uint8Array(hkdfSync('sha256', masterKey, Buffer.alloc(0), `mailotp ${purpose}`, 32));
  return {
    otpHmacKey: derive('otp-hmac'),
    encryptionKey: derive('secret-box'),
    jwtKey: derive('admin-jwt'),
    pinPepper: derive('pin-pepper'),
  };
}

/**
 * Reads the master key from `<dataDir>/mailotp.key`, creating it (mode 0600) on first start. Every node
 * of a cluster must share this file: it decrypts SMTP passwords and checks PINs, OTPs and admin sessions.
 */
export function loadOrCreateMasterKey(dataDir: string): { masterKey: Uint8Array; isNew: boolean; path: string } {
  const path = join(dataDir, KEY_FILE_NAME);
  mkdirSync(dataDir, { recursive: true, mode: 0o700 });
  let isNew = false;
  // Written whole to a private temporary file, then hard-linked into place: link() fails if the key
  // exists, so nodes starting together agree on one key and none can read a half-written file.
  const temporary = `${path}.${process.pid}.${randomBytes(6).toString('hex')}.tmp`;
  writeFileSync(temporary, `${randomBytes(32).toString('base64')}\n`, { flag: 'wx', mode: 0o600 });
  try {
    linkSync(temporary, path);
    isNew = true;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw new OtpError('CONFIG_INVALID', { detail: `cannot create ${path}`, cause: error });
  } finally {
    unlinkSync(temporary);
  }
  if ((statSync(path).mode & 0o077) !== 0) chmodSync(path, 0o600);
  const masterKey = Buffer.from(readFileSync(path, 'utf8').trim(), 'base64');
  if (masterKey.byteLength < 32) throw new OtpError('CONFIG_INVALID', { detail: `${path} does not hold a 32-byte base64 key` });
  return { masterKey: new Uint8Array(masterKey), isNew, path };
}

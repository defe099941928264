import { createCipheriv, createDecipheriv } from 'node:crypto';
import type { RandomSource, SecretBox } from '../core/ports.js';
import { cryptoRandomSource } from './crypto-random-source.js';

const VERSION = 'v1';

/** AES-256-GCM; the output is "v1.<iv>.<tag>.<ciphertext>" in base64url, safe to store as text. */
export function createAesSecretBox(key: Uint8Array, random: RandomSource = cryptoRandomSource): SecretBox {
  if (key.byteLength !== 32) throw new TypeError('the encryption key must be 32 bytes');
  const keyCopy = Buffer.from(key);
  return {
    seal(plaintext: string): string {
      const iv = Buffer.alloc(12);
      random.read(iv);
      const cipher = createCipheriv('aes-256-gcm', keyCopy, iv);
      const ciphertext = Buffer.concat([cipher.update(plaintext, 'utf8'), cipher.final()]);
      return [VERSION, iv.toString('base64url'), cipher.getAuthTag().toString('base64url'), ciphertext.toString('base64url')].join('.');
    },
    open(sealed: string): string {
      const [version, iv, tag, ciphertext] = sealed.split('.');
      if (version !== VERSION || iv === undefined || tag === undefined || ciphertext === undefined) {
        throw new TypeError('not a sealed secret');
      }
      const decipher = createDecipheriv('aes-256-gcm', keyCopy, Buffer.from(iv, 'base64url'));
      decipher.setAuthTag(Buffer.from(tag, 'base64url'));
      return Buffer.concat([decipher.update(Buffer.from(ciphertext, 'base64url')), decipher.final()]).toString('utf8');
    },
  };
}

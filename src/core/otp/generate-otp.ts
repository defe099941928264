import type { RandomSource } from '../ports.js';

/**
 * A uniformly random decimal code of `otpLength` digits. Each digit comes from one random byte by
 * rejection sampling: bytes >= 250 are redrawn, because 256 % 10 != 0 and `byte % 10` would make the
 * digits 0-5 about 0.4 % likelier than 6-9.
 */
export function generateOtp(random: RandomSource, otpLength: number): string {
  if (!Number.isInteger(otpLength) || otpLength < 4 || otpLength > 10) {
    throw new TypeError('otpLength must be an integer from 4 to 10');
  }
  const digits: number[] = [];
  const buffer = new Uint8Array(otpLength * 2);
  while (digits.length < otpLength) {
    random.read(buffer);
    for (const byte of buffer) {
      if (byte < 250) digits.push(byte % 10);
      if (digits.length === otpLength) break;
    }
  }
  return digits.join('');
}

/** privacyIDEA transaction ids are 20 decimal digits; clients store them as strings. */
export function generateTransactionId(random: RandomSource): string {
  return generateOtp(random, 10) + generateOtp(random, 10);
}

/** A 128-bit random identifier, hex encoded. */
export function generateId(random: RandomSource): string {
  const bytes = new Uint8Array(16);
  random.read(bytes);
  return Buffer.from(bytes).toString('hex');
}

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

/**
 * A challenge's identifier, 32 hex characters: the creation time in milliseconds (48 bits, as UUIDv7
 * puts it first) and then 80 random bits. It is the primary key of the challenge and of its outbox mail,
 * so time-ordered ids append to those indexes: each new key lands on the last page, which recent inserts
 * have already touched. With 128 random bits each login changed a random page of each index, read cold
 * from memory, and PostgreSQL logged that page in full after every checkpoint (with 300,000 challenges
 * stored: 14.3-14.6 KB of WAL a login against 4.1-4.2 KB, docs/performance.md). 80 bits keep ids
 * unguessable and apart within a millisecond.
 */
export function generateId(random: RandomSource, nowMilliseconds: number): string {
  if (!Number.isSafeInteger(nowMilliseconds) || nowMilliseconds < 0 || nowMilliseconds >= 2 ** 48) {
    throw new RangeError('nowMilliseconds must be a time from 1970 to 10889');
  }
  const bytes = new Uint8Array(10);
  random.read(bytes);
  return nowMilliseconds.toString(16).padStart(12, '0') + Buffer.from(bytes).toString('hex');
}

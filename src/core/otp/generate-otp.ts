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
 * so time-ordered ids append to those indexes: each new key lands on the last page, which the indexes'
 * recent inserts have already written and cached. With 128 random bits every login wrote one more
 * page, somewhere in each index, to SQLite's log (two pages a login of about 18) or PostgreSQL's, and
 * read it cold from memory first. 80 bits keep ids unguessable and apart within a millisecond.
 */
export function generateId(random: RandomSource, nowMilliseconds: number): string {
  if (!Number.isSafeInteger(nowMilliseconds) || nowMilliseconds < 0 || nowMilliseconds >= 2 ** 48) {
    throw new RangeError('nowMilliseconds must be a time from 1970 to 10889');
  }
  const bytes = new Uint8Array(10);
  random.read(bytes);
  return nowMilliseconds.toString(16).padStart(12, '0') + Buffer.from(bytes).toString('hex');
}

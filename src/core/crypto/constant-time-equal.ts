import { createHash, timingSafeEqual } from 'node:crypto';

/**
 * Compares two strings in time independent of where they differ and of their lengths: both sides are
 * hashed to 32 bytes first, so timingSafeEqual always sees equal lengths and a length mismatch leaks
 * nothing (node-oidc-provider pads for the same reason).
 */
export function constantTimeEqual(a: string, b: string): boolean {
  const digestA = createHash('sha256').update(a, 'utf8').digest();
  const digestB = createHash('sha256').update(b, 'utf8').digest();
  return timingSafeEqual(digestA, digestB) && a.length === b.length;
}

/**
 * Compares two digests whose length is no secret (each a fixed-size MAC in a fixed encoding, such as the
 * stored OTP digests): their bytes in constant time, without constantTimeEqual's two hashes, which cost
 * a transaction_id answer about as much as its HMAC (OpenSSL sets up a context for each). Digests of
 * different lengths are unequal at once; that reveals only the lengths.
 */
export function constantTimeEqualDigests(a: string, b: string): boolean {
  const bytesA = Buffer.from(a, 'utf8');
  const bytesB = Buffer.from(b, 'utf8');
  return bytesA.length === bytesB.length && timingSafeEqual(bytesA, bytesB);
}

import { randomFillSync } from 'node:crypto';
import type { RandomSource } from '../core/ports.js';

/** Bytes drawn from the CSPRNG at once. A full flow reads about 80 in six pieces. */
const DEFAULT_POOL_BYTES = 4096;

/**
 * Node's CSPRNG (OpenSSL's, seeded by the kernel), read ahead in blocks. Each randomFillSync call is a
 * crossing into C++ and a lock in OpenSSL's DRBG whatever its size, and a full flow asks for random
 * bytes six times (code, transaction id, challenge id, IVs); Node's own randomUUID keeps such a cache
 * too. Every byte is handed out once and wiped from the pool as it goes; a request larger than the pool
 * reads the CSPRNG directly.
 */
export function createCryptoRandomSource(poolBytes = DEFAULT_POOL_BYTES): RandomSource {
  const pool = Buffer.alloc(poolBytes);
  let offset = poolBytes;
  return Object.freeze({
    read(bytes: Uint8Array): void {
      const length = bytes.byteLength;
      if (length > poolBytes) {
        randomFillSync(bytes);
        return;
      }
      if (offset + length > poolBytes) {
        randomFillSync(pool);
        offset = 0;
      }
      bytes.set(pool.subarray(offset, offset + length));
      pool.fill(0, offset, offset + length);
      offset += length;
    },
  });
}

export const cryptoRandomSource: RandomSource = createCryptoRandomSource();

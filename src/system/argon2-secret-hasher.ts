import { hash, verify } from '@node-rs/argon2';
import type { SecretHasher } from '../core/ports.js';

export interface Argon2Parameters {
  /** KiB of memory per hash. OWASP (2025) minimum for Argon2id: 19456 KiB with 2 passes. */
  memoryKiB: number;
  iterations: number;
  parallelism: number;
}

export const OWASP_ARGON2ID: Readonly<Argon2Parameters> = Object.freeze({ memoryKiB: 19456, iterations: 2, parallelism: 1 });

const ARGON2ID = 2; // @node-rs/argon2 Algorithm.Argon2id (a const enum, so not importable under isolated modules)

/**
 * Argon2id with a server-side pepper (the `secret` input): a stolen database alone does not allow
 * offline PIN guessing. The work runs on libuv's thread pool, never on the event loop.
 */
export function createArgon2SecretHasher(pepper: Uint8Array, parameters: Argon2Parameters = OWASP_ARGON2ID): SecretHasher {
  const options = {
    algorithm: ARGON2ID,
    memoryCost: parameters.memoryKiB,
    timeCost: parameters.iterations,
    parallelism: parameters.parallelism,
    secret: Buffer.from(pepper),
  };
  return {
    hash: (secret: string): Promise<string> => hash(secret, options),
    async verify(storedHash: string, secret: string): Promise<boolean> {
      try {
        return await verify(storedHash, secret, { secret: options.secret });
      } catch {
        return false; // a malformed stored hash verifies nothing
      }
    },
  };
}

import { availableParallelism } from 'node:os';
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
/**
 * At most `limit` runs at once; the rest wait in JS. Argon2 is CPU- and memory-bound: more parallel runs
 * than cores only add 19 MiB each and push other thread-pool work (DNS for SMTP hosts) to the back.
 */
export function createGate(limit: number): <T>(work: () => Promise<T>) => Promise<T> {
  let running = 0;
  const waiting: Array<() => void> = [];
  return async <T>(work: () => Promise<T>): Promise<T> => {
    // A finishing run hands its slot straight to the next waiter, so a newcomer cannot slip in between.
    if (running >= limit) await new Promise<void>((resolve) => waiting.push(resolve));
    else running += 1;
    try {
      return await work();
    } finally {
      const next = waiting.shift();
      if (next) next();
      else running -= 1;
    }
  };
}

export function createArgon2SecretHasher(
  pepper: Uint8Array,
  parameters: Argon2Parameters = OWASP_ARGON2ID,
  maxConcurrentRuns = Math.max(1, availableParallelism()),
): SecretHasher {
  const gate = createGate(maxConcurrentRuns);
  const options = {
    algorithm: ARGON2ID,
    memoryCost: parameters.memoryKiB,
    timeCost: parameters.iterations,
    parallelism: parameters.parallelism,
    secret: Buffer.from(pepper),
  };
  return {
    hash: (secret: string): Promise<string> => gate(() => hash(secret, options)),
    async verify(storedHash: string, secret: string): Promise<boolean> {
      try {
        return await gate(() => verify(storedHash, secret, { secret: options.secret }));
      } catch {
        return false; // a malformed stored hash verifies nothing
      }
    },
  };
}

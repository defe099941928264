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
 * The default limit: one run more than there are cores (and pool threads, see src/launch.cts). The extra
 * run waits in libuv's queue, so a pool thread that finishes one starts the next at once. With the limit
 * at the core count it went to sleep instead until the event loop had handled the finished run and
 * queued the next, and then had to be woken: an idle gap per run on the KDF threads and a wake-up
 * (futex, an IPI in a VM) on the event loop. A queued run holds no Argon2 memory; that is allocated when
 * it starts on a thread. Measured with 16 concurrent full flows on SQLite, 2 cores, alternating:
 * 75.7 / 75.5 flows/s at the core count, 79.2 / 81.8 / 77.2 with one more, 81.5 / 76.7 with two more.
 */
export const defaultConcurrentRuns = (): number => Math.max(1, availableParallelism()) + 1;

/**
 * At most `limit` runs at once; the rest wait in JS. Argon2 is CPU- and memory-bound: more runs in
 * libuv's queue than it takes to keep every core busy only push other thread-pool work (DNS for SMTP
 * hosts) further back, and more threads running them only add 19 MiB each.
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

/**
 * Argon2id with a server-side pepper (the `secret` input): a stolen database alone does not allow
 * offline PIN guessing. The work runs on libuv's thread pool, never on the event loop.
 */
export function createArgon2SecretHasher(
  pepper: Uint8Array,
  parameters: Argon2Parameters = OWASP_ARGON2ID,
  maxConcurrentRuns = defaultConcurrentRuns(),
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

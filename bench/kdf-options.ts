import { OWASP_ARGON2ID } from '../src/system/argon2-secret-hasher.js';
import { measureKdf } from './limits.js';
import { readSettings, type KdfParameters } from './settings.js';

/**
 * OWASP's Argon2id minimums (Password Storage Cheat Sheet): five settings it rates as an equal level of
 * defence, trading memory for passes. mailotp's default is the second.
 */
export const OWASP_ARGON2ID_OPTIONS: readonly KdfParameters[] = [
  { memoryKiB: 47_104, iterations: 1, parallelism: 1 },
  OWASP_ARGON2ID,
  { memoryKiB: 12_288, iterations: 3, parallelism: 1 },
  { memoryKiB: 9_216, iterations: 4, parallelism: 1 },
  { memoryKiB: 7_168, iterations: 5, parallelism: 1 },
];

/**
 * `npm run bench:kdf`: what each of OWASP's equivalent Argon2id settings costs on this machine, with the
 * same measurement as the benchmark's KDF ceiling (one verification alone, then all cores). The cheapest
 * here buys the most logins per second for the same rated defence; set it with MAILOTP_KDF_MEMORY_KIB
 * and MAILOTP_KDF_ITERATIONS. Stored PIN hashes keep the parameters they were made with.
 */
async function main(): Promise<void> {
  const settings = readSettings(process.env);
  const write = (line: string): void => void process.stdout.write(`${line}\n`);
  write(`Argon2id with a 32-byte pepper, ${settings.cores} cores, ${settings.limitDurationMs * 2} ms per setting`);
  write('');
  write('| m (KiB) | t | p | one verification (ms) | verifications/s, all cores | steal % |');
  write('| ---: | ---: | ---: | ---: | ---: | ---: |');
  for (const kdf of OWASP_ARGON2ID_OPTIONS) {
    const result = await measureKdf({ ...settings, kdf });
    const isDefault = kdf === OWASP_ARGON2ID;
    write(`| ${kdf.memoryKiB}${isDefault ? ' (default)' : ''} | ${kdf.iterations} | ${kdf.parallelism} | ${result.singleVerifyMs} | ${result.perSecond} | ${result.stealPercent} |`);
  }
}

main().catch((error: unknown) => {
  process.stderr.write(`kdf benchmark failed: ${String((error as Error)?.stack ?? error)}\n`);
  process.exit(1);
});

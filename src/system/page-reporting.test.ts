import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { describe, it } from 'node:test';
import { createArgon2SecretHasher, OWASP_ARGON2ID } from './argon2-secret-hasher.js';
import { FRESH_MEMORY_PAGE_FAULTS, pageFaultsPerHash } from './page-reporting.js';

describe('page faults of a PIN check', () => {
  it('counts the faults of the second run only, after a warming first one', async () => {
    let faults = 0;
    let runs = 0;
    const hash = async (): Promise<void> => {
      runs += 1;
      faults += runs === 1 ? 1000 : 7; // the first run pays for starting the pool and the library
    };
    assert.equal(await pageFaultsPerHash(hash, () => faults), 7);
    assert.equal(runs, 2);
  });

  // What the start-up hint rests on (src/main.ts): the Argon2id library maps a fresh block for each run at
  // the default setting, and keeps the block of OWASP's m=12 MiB, t=3. Should a new version of the
  // library change either, this says so.
  it('tells the default Argon2id setting, which maps fresh memory each run, from m=12 MiB, t=3, whose memory is kept', { skip: process.platform !== 'linux' && 'page faults are counted on Linux' }, async () => {
    const pepper = randomBytes(32);
    const fresh = createArgon2SecretHasher(pepper, OWASP_ARGON2ID, 1);
    const kept = createArgon2SecretHasher(pepper, { memoryKiB: 12288, iterations: 3, parallelism: 1 }, 1);
    const freshFaults = await pageFaultsPerHash(() => fresh.hash('probe'));
    const keptFaults = await pageFaultsPerHash(() => kept.hash('probe'));
    assert.ok(freshFaults >= FRESH_MEMORY_PAGE_FAULTS, `m=19 MiB, t=2: ${freshFaults} page faults a run`);
    assert.ok(keptFaults < FRESH_MEMORY_PAGE_FAULTS, `m=12 MiB, t=3: ${keptFaults} page faults a run`);
  });
});

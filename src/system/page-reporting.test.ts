import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { describe, it } from 'node:test';
import { createArgon2SecretHasher, OWASP_ARGON2ID } from './argon2-secret-hasher.js';
import { FRESH_MEMORY_PAGE_FAULTS, pageFaultsPerHash } from './page-reporting.js';

describe('page faults of a PIN check', () => {
  it('leaves out the warming first run and takes the fewest faults of the runs after it', async () => {
    let faults = 0;
    let runs = 0;
    // The first run pays for starting the pool and the library; something else faults beside the second.
    const perRun = [1000, 400, 7];
    const hash = async (): Promise<void> => {
      faults += perRun[runs]!;
      runs += 1;
    };
    assert.equal(await pageFaultsPerHash(hash, () => faults), 7);
    assert.equal(runs, 3);
  });

  // What the start-up warning rests on (src/main.ts): the Argon2id library maps a fresh block for each run at
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

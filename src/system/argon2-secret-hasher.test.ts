import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { createArgon2SecretHasher, createGate } from './argon2-secret-hasher.js';

const CHEAP = { memoryKiB: 1024, iterations: 1, parallelism: 1 };

describe('createArgon2SecretHasher', () => {
  it('verifies the secret it hashed and nothing else', async () => {
    const hasher = createArgon2SecretHasher(new Uint8Array(32).fill(1), CHEAP);
    const stored = await hasher.hash('1234');
    assert.match(stored, /^\$argon2id\$/);
    assert.equal(await hasher.verify(stored, '1234'), true);
    assert.equal(await hasher.verify(stored, '1235'), false);
  });

  it('binds hashes to the pepper: another server key verifies nothing', async () => {
    const stored = await createArgon2SecretHasher(new Uint8Array(32).fill(1), CHEAP).hash('1234');
    assert.equal(await createArgon2SecretHasher(new Uint8Array(32).fill(2), CHEAP).verify(stored, '1234'), false);
  });

  it('answers false for a malformed stored hash instead of throwing', async () => {
    const hasher = createArgon2SecretHasher(new Uint8Array(32).fill(1), CHEAP);
    assert.equal(await hasher.verify('not-a-hash', '1234'), false);
  });

  it('completes every one of many parallel runs through its concurrency gate', async () => {
    const hasher = createArgon2SecretHasher(new Uint8Array(32).fill(1), CHEAP, 2);
    const stored = await hasher.hash('pin');
    const results = await Promise.all(Array.from({ length: 20 }, (_, index) => hasher.verify(stored, index % 2 === 0 ? 'pin' : 'nope')));
    assert.deepEqual(results, Array.from({ length: 20 }, (_, index) => index % 2 === 0));
  });
});

describe('createGate', () => {
  it('never runs more than its limit at once, and runs everything', async () => {
    const gate = createGate(2);
    let running = 0;
    let peak = 0;
    const releases: Array<() => void> = [];
    const done = Promise.all(
      Array.from({ length: 7 }, (_, index) =>
        gate(async () => {
          running += 1;
          peak = Math.max(peak, running);
          await new Promise<void>((resolve) => releases.push(resolve));
          running -= 1;
          return index;
        }),
      ),
    );
    // Release one run at a time; each release lets exactly one waiter in.
    for (let released = 0; released < 7; released += 1) {
      while (releases.length === 0) await new Promise((resolve) => setImmediate(resolve));
      assert.ok(running <= 2, `running ${running}`);
      releases.shift()!();
    }
    assert.deepEqual(await done, [0, 1, 2, 3, 4, 5, 6]);
    assert.equal(peak, 2);
  });
});

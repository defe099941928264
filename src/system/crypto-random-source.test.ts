import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { createCryptoRandomSource } from './crypto-random-source.js';

function read(source: ReturnType<typeof createCryptoRandomSource>, length: number): Buffer {
  const bytes = new Uint8Array(length);
  source.read(bytes);
  return Buffer.from(bytes);
}

describe('crypto random source: the CSPRNG read ahead', () => {
  it('hands every byte out once: 16-byte reads across many refills never repeat', () => {
    const source = createCryptoRandomSource(64);
    const seen = new Set<string>();
    for (let index = 0; index < 2000; index += 1) seen.add(read(source, 16).toString('hex'));
    assert.equal(seen.size, 2000);
  });

  it('a read that does not fit in what is left of the pool gets fresh bytes, not the wiped tail', () => {
    const source = createCryptoRandomSource(64);
    read(source, 60);
    const next = read(source, 16);
    assert.notDeepEqual(next.subarray(0, 4), Buffer.alloc(4), 'the 4 bytes left were not handed out as zeros');
    assert.notDeepEqual(next, Buffer.alloc(16));
  });

  it('reads larger than the pool go to the CSPRNG directly and are random throughout', () => {
    const source = createCryptoRandomSource(64);
    const big = read(source, 1000);
    // 1000 random bytes: every 100-byte stretch holds many distinct values, none is a run of zeros.
    for (let start = 0; start < 1000; start += 100) assert.ok(new Set(big.subarray(start, start + 100)).size > 50);
  });

  it('fills exactly the bytes asked for, including none', () => {
    const source = createCryptoRandomSource(64);
    const buffer = new Uint8Array(32);
    source.read(buffer.subarray(8, 24));
    assert.deepEqual(Buffer.from(buffer.subarray(0, 8)), Buffer.alloc(8));
    assert.deepEqual(Buffer.from(buffer.subarray(24)), Buffer.alloc(8));
    source.read(new Uint8Array(0));
  });
});

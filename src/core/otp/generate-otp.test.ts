import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { SeededRandomSource } from '../../../test/support/fake-ports.js';
import { generateId, generateOtp, generateTransactionId } from './generate-otp.js';

describe('generateOtp', () => {
  it('returns exactly otpLength decimal digits', () => {
    const random = new SeededRandomSource('length');
    for (const otpLength of [4, 6, 8, 10]) {
      const otp = generateOtp(random, otpLength);
      assert.equal(otp.length, otpLength);
      assert.match(otp, /^\d+$/);
    }
  });

  it('rejects an otpLength outside 4..10 or not an integer with a TypeError', () => {
    const random = new SeededRandomSource('bad');
    for (const otpLength of [3, 11, 0, -6, 6.5, Number.NaN]) {
      assert.throws(() => generateOtp(random, otpLength), TypeError, `otpLength ${otpLength}`);
    }
  });

  it('skips bytes 250..255 instead of folding them onto 0..5 (no modulo bias)', () => {
    // byte % 10 would turn 250..255 into "012345"; rejection sampling must use the bytes after them.
    const random = new SeededRandomSource('reject', [250, 251, 252, 253, 254, 255, 17, 28, 39, 46, 53, 69]);
    assert.equal(generateOtp(random, 6), '789639');
  });

  it('keeps reading when a whole buffer is rejected', () => {
    // The first read (8 bytes for otpLength 4) is all rejects; the digits must come from the next read.
    const random = new SeededRandomSource('refill', [255, 255, 255, 255, 255, 255, 255, 255, 1, 2, 3, 4]);
    assert.equal(generateOtp(random, 4), '1234');
  });

  it('draws every digit about equally often (chi-square over 240 000 digits)', () => {
    const random = new SeededRandomSource('frequency');
    const counts = new Array<number>(10).fill(0);
    const draws = 40_000;
    for (let index = 0; index < draws; index += 1) {
      for (const digit of generateOtp(random, 6)) counts[Number(digit)]! += 1;
    }
    const expected = (draws * 6) / 10;
    const chiSquare = counts.reduce((sum, count) => sum + (count - expected) ** 2 / expected, 0);
    // 9 degrees of freedom: p = 0.001 at 27.9. A "byte % 10" generator (digits 0-5 at 26/256, 6-9 at
    // 25/256) scores about 90 at this sample size, so the bound tells a biased generator from a fair one.
    assert.ok(chiSquare < 27.9, `chi-square ${chiSquare.toFixed(1)} for counts ${counts.join(',')}`);
  });
});

describe('generateTransactionId', () => {
  it('returns 20 decimal digits, different on each call', () => {
    const random = new SeededRandomSource('tid');
    const first = generateTransactionId(random);
    const second = generateTransactionId(random);
    assert.match(first, /^\d{20}$/);
    assert.match(second, /^\d{20}$/);
    assert.notEqual(first, second);
  });
});

describe('generateId', () => {
  it('returns 32 hex characters: the time in milliseconds, then 80 random bits', () => {
    const random = new SeededRandomSource('id');
    const at = Date.UTC(2026, 10, 28, 22, 30);
    const id = generateId(random, at);
    assert.match(id, /^[0-9a-f]{32}$/);
    assert.equal(parseInt(id.slice(0, 12), 16), at);
    const again = generateId(random, at);
    assert.equal(again.slice(0, 12), id.slice(0, 12));
    assert.notEqual(again.slice(12), id.slice(12));
  });

  it('orders ids by the time they were made, whatever their random bits', () => {
    const random = new SeededRandomSource('order');
    const start = Date.UTC(2026, 10, 28);
    const ids = Array.from({ length: 200 }, (_, index) => generateId(random, start + index * 7));
    assert.deepEqual([...ids].sort(), ids);
    // Across the 2^40 boundary the hex width stays 12, so string order is still time order.
    assert.ok(generateId(random, 2 ** 40 - 1) < generateId(random, 2 ** 40));
  });

  it('refuses a time it cannot encode in 48 bits', () => {
    const random = new SeededRandomSource('range');
    for (const bad of [-1, 2 ** 48, 1.5, Number.NaN]) assert.throws(() => generateId(random, bad), RangeError);
  });
});

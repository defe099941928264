import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { constantTimeEqual, constantTimeEqualDigests } from './constant-time-equal.js';

describe('constantTimeEqual', () => {
  it('is true for equal strings', () => {
    assert.equal(constantTimeEqual('123456', '123456'), true);
    assert.equal(constantTimeEqual('pässwörd', 'pässwörd'), true);
  });

  it('is false for strings of the same length that differ', () => {
    assert.equal(constantTimeEqual('123456', '123457'), false);
    assert.equal(constantTimeEqual('a23456', '123456'), false);
  });

  it('is false for strings of different lengths, prefixes included', () => {
    assert.equal(constantTimeEqual('12345', '123456'), false);
    assert.equal(constantTimeEqual('123456', '12345'), false);
  });

  it('treats the empty string as equal only to itself', () => {
    assert.equal(constantTimeEqual('', ''), true);
    assert.equal(constantTimeEqual('', '0'), false);
    assert.equal(constantTimeEqual('0', ''), false);
  });
});

describe('constantTimeEqualDigests', () => {
  const digest = 'q1fGQxXq3m0y2Dg5c3ZrR0ZkR0hOd0dRbW5yWk1rU2c';

  it('is true for the same digest', () => {
    assert.equal(constantTimeEqualDigests(digest, `${digest}`), true);
  });

  it('is false for a digest that differs in one character, at either end', () => {
    assert.equal(constantTimeEqualDigests(digest, `x${digest.slice(1)}`), false);
    assert.equal(constantTimeEqualDigests(digest, `${digest.slice(0, -1)}x`), false);
  });

  it('is false for another length, a prefix or a string that encodes to other bytes', () => {
    assert.equal(constantTimeEqualDigests(digest, digest.slice(0, -1)), false);
    assert.equal(constantTimeEqualDigests(digest, `${digest}A`), false);
    assert.equal(constantTimeEqualDigests('', digest), false);
    // One character, two UTF-8 bytes against two one-byte characters: same string length, not equal.
    assert.equal(constantTimeEqualDigests('\u00e9', 'ab'), false);
    assert.equal(constantTimeEqualDigests('\u00e9a', 'abc'), false);
  });
});

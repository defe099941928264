import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { constantTimeEqual } from './constant-time-equal.js';

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

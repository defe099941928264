import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { splitPinAndOtp } from './split-pin-and-otp.js';

describe('splitPinAndOtp', () => {
  it('takes the last otpLength characters as the OTP and the rest as the PIN', () => {
    assert.deepEqual(splitPinAndOtp('1234987654', 6), { pin: '1234', otp: '987654' });
    assert.deepEqual(splitPinAndOtp('secret12345678', 8), { pin: 'secret', otp: '12345678' });
  });

  it('gives an empty PIN when pass is exactly one OTP long', () => {
    assert.deepEqual(splitPinAndOtp('987654', 6), { pin: '', otp: '987654' });
  });

  it('returns undefined when pass is shorter than an OTP', () => {
    assert.equal(splitPinAndOtp('12345', 6), undefined);
    assert.equal(splitPinAndOtp('', 4), undefined);
  });
});

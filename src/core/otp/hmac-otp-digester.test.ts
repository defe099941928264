import assert from 'node:assert/strict';
import { createHmac } from 'node:crypto';
import { describe, it } from 'node:test';
import { createHmacOtpDigester } from './hmac-otp-digester.js';

describe('createHmacOtpDigester', () => {
  const key = new Uint8Array(32).fill(1);

  it('is HMAC-SHA256 over the challenge id, a zero byte and the OTP, in base64url: digests stored by earlier versions still verify', () => {
    const expected = createHmac('sha256', Buffer.from(key)).update(Buffer.concat([Buffer.from('challenge-a'), Buffer.from([0]), Buffer.from('123456')])).digest('base64url');
    assert.equal(createHmacOtpDigester(key).digest('challenge-a', '123456'), expected);
  });

  it('gives the same digest for the same challenge id and OTP', () => {
    const digester = createHmacOtpDigester(key);
    assert.equal(digester.digest('challenge-a', '123456'), digester.digest('challenge-a', '123456'));
  });

  it('gives different digests for the same OTP under different challenge ids', () => {
    const digester = createHmacOtpDigester(key);
    assert.notEqual(digester.digest('challenge-a', '123456'), digester.digest('challenge-b', '123456'));
  });

  it('does not let the challenge id and OTP run together ("ab"+"1" differs from "a"+"b1")', () => {
    const digester = createHmacOtpDigester(key);
    assert.notEqual(digester.digest('ab', '1'), digester.digest('a', 'b1'));
  });

  it('gives different digests under different keys and never contains the OTP', () => {
    const other = createHmacOtpDigester(new Uint8Array(32).fill(2));
    const digest = createHmacOtpDigester(key).digest('challenge-a', '123456');
    assert.notEqual(digest, other.digest('challenge-a', '123456'));
    assert.ok(!digest.includes('123456'));
  });

  it('throws a TypeError for a key shorter than 32 bytes', () => {
    assert.throws(() => createHmacOtpDigester(new Uint8Array(31)), TypeError);
    assert.doesNotThrow(() => createHmacOtpDigester(new Uint8Array(32)));
  });

  it('copies the key, so changing the caller\'s buffer later changes nothing', () => {
    const mutable = new Uint8Array(32).fill(1);
    const digester = createHmacOtpDigester(mutable);
    const before = digester.digest('c', '1234');
    mutable.fill(9);
    assert.equal(digester.digest('c', '1234'), before);
  });
});

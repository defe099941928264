import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { isOtpError } from '../errors.js';
import { parseRate } from './rate.js';

describe('parseRate', () => {
  it('reads "count/seconds" as a capacity and a window in milliseconds', () => {
    assert.deepEqual(parseRate('email.rate_user', '10/600'), { count: 10, windowMilliseconds: 600_000 });
    assert.deepEqual(parseRate('email.rate_user', ' 3 / 1 '), { count: 3, windowMilliseconds: 1000 });
  });

  it('turns the limit off for "0" or an empty value', () => {
    assert.equal(parseRate('email.rate_user', '0'), undefined);
    assert.equal(parseRate('email.rate_user', ' '), undefined);
  });

  for (const text of ['0/60', '5/0', '10', '10/', '/60', '-1/60', '1.5/60', '10/600s', '1e3/60', '10/60/2', '1234567890/60']) {
    it(`refuses ${JSON.stringify(text)} with SETTING_INVALID naming the key`, () => {
      assert.throws(
        () => parseRate('email.rate_client', text),
        (error: unknown) => isOtpError(error) && error.code === 'SETTING_INVALID' && JSON.stringify(error.publicParams).includes('email.rate_client'),
      );
    });
  }
});

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { tokenFixture } from '../../../test/support/fake-ports.js';
import type { User } from '../users/user.js';
import { recipientOf } from './trigger-challenges.js';

const user: User = { resolver: 'local', id: '1', login: 'alice', email: 'alice.current@example.org', givenname: 'Alice', surname: 'A', phone: '', mobile: '' };

describe('recipientOf', () => {
  it('sends to the token\'s own address by default', () => {
    assert.equal(recipientOf(tokenFixture({ info: { email: ' alice@example.org ' } }), user), 'alice@example.org');
  });

  it('sends to the owner\'s current address for dynamic_email tokens, however the flag is spelled', () => {
    for (const flag of ['1', 'true', 'True', 'TRUE', 'yes', 'on']) {
      assert.equal(recipientOf(tokenFixture({ info: { email: 'old@example.org', dynamic_email: flag } }), user), 'alice.current@example.org', flag);
    }
  });

  it('treats a false dynamic_email flag as absent', () => {
    for (const flag of ['0', 'false', 'False', 'no', '']) {
      assert.equal(recipientOf(tokenFixture({ info: { email: 'old@example.org', dynamic_email: flag } }), user), 'old@example.org', flag);
    }
  });

  it('has no recipient for a dynamic_email token without an owner', () => {
    assert.equal(recipientOf(tokenFixture({ info: { dynamic_email: 'True' } }), undefined), '');
  });
});

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { FakeSecretHasher } from '../../../test/support/fake-ports.js';
import { ManualClock } from '../../../test/support/manual-clock.js';
import { MemoryStore } from '../../../test/support/memory-store.js';
import { OtpError } from '../errors.js';
import { addAdmin, authenticateAdmin, type AdminDeps } from './admin-service.js';

const PASSWORD = 'correct horse battery staple';

function createDeps(): AdminDeps & { passwordHasher: FakeSecretHasher; store: MemoryStore } {
  return { store: new MemoryStore(), clock: new ManualClock(), passwordHasher: new FakeSecretHasher() };
}

function isInvalid(name: string): (error: unknown) => boolean {
  return (error: unknown) => error instanceof OtpError && error.code === 'PARAMETER_INVALID' && error.publicParams['name'] === name;
}

describe('addAdmin', () => {
  it('stores the admin with a hashed password and returns true', async () => {
    const deps = createDeps();
    assert.equal(await addAdmin(deps, 'admin', PASSWORD), true);
    const stored = await deps.store.admins.find('admin');
    assert.equal(stored?.passwordHash, `hash:${PASSWORD}`);
    assert.equal(stored?.createdAt, deps.clock.nowMilliseconds());
  });

  it('returns false for a name that already exists and keeps the old password', async () => {
    const deps = createDeps();
    await addAdmin(deps, 'admin', PASSWORD);
    assert.equal(await addAdmin(deps, 'admin', 'another long password'), false);
    assert.equal(await authenticateAdmin(deps, 'admin', PASSWORD), true);
  });

  it('rejects a password shorter than 12 characters', async () => {
    const deps = createDeps();
    await assert.rejects(addAdmin(deps, 'admin', 'short-pass1'), isInvalid('password'));
    assert.equal(await deps.store.admins.find('admin'), undefined);
    assert.equal(await addAdmin(deps, 'admin', 'twelve-chars'), true);
  });

  it('rejects a name with spaces, slashes, quotes or more than 64 characters', async () => {
    const deps = createDeps();
    for (const username of ['', 'ad min', 'a/b', 'x"y', 'a'.repeat(65)]) {
      await assert.rejects(addAdmin(deps, username, PASSWORD), isInvalid('username'), username);
    }
    assert.deepEqual(await deps.store.admins.list(), []);
  });
});

describe('authenticateAdmin', () => {
  it('is true for the right password and false for a wrong one', async () => {
    const deps = createDeps();
    await addAdmin(deps, 'admin', PASSWORD);
    assert.equal(await authenticateAdmin(deps, 'admin', PASSWORD), true);
    assert.equal(await authenticateAdmin(deps, 'admin', `${PASSWORD}!`), false);
    assert.equal(await authenticateAdmin(deps, 'admin', ''), false);
  });

  it('is false for an unknown admin, after running the KDF anyway', async () => {
    const deps = createDeps();
    let verifyCalls = 0;
    const verify = deps.passwordHasher.verify.bind(deps.passwordHasher);
    deps.passwordHasher.verify = async (stored, secret) => {
      verifyCalls += 1;
      return verify(stored, secret);
    };
    assert.equal(await authenticateAdmin(deps, 'nobody', PASSWORD), false);
    assert.equal(verifyCalls, 1);
  });
});

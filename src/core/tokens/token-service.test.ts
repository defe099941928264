import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { createFakeDeps, SeededRandomSource, type FakeDeps } from '../../../test/support/fake-ports.js';
import { OtpError, type ErrorCode } from '../errors.js';
import type { RealmUser } from '../users/user.js';
import { enrolToken, generateSerial, setTokenActive, setTokenInfo, type EnrolRequest } from './token-service.js';

function isOtpError(code: ErrorCode, name?: string): (error: unknown) => boolean {
  return (error: unknown) => error instanceof OtpError && error.code === code && (name === undefined || error.publicParams['name'] === name);
}

function request(overrides: Partial<EnrolRequest> = {}): EnrolRequest {
  return {
    type: 'email', serial: undefined, email: 'alice@example.org', isDynamicEmail: false, pin: '1234', otpLength: undefined,
    owner: undefined, description: undefined, smtpIdentifier: undefined, ...overrides,
  };
}

async function addUser(deps: FakeDeps, login: string): Promise<RealmUser> {
  const user = await deps.store.users.insert({ resolver: 'local', login, email: `${login}@example.org`, givenname: '', surname: '', phone: '', mobile: '' });
  return { user, realm: 'default' };
}

describe('generateSerial', () => {
  it('is PIEM and 8 characters without look-alikes (0, O, 1, I)', () => {
    const deps = createFakeDeps('serial');
    const serials = new Set<string>();
    for (let index = 0; index < 200; index += 1) {
      const serial = generateSerial(deps);
      assert.match(serial, /^PIEM[2-9A-HJ-NP-Z]{8}$/);
      serials.add(serial);
    }
    assert.equal(serials.size, 200);
  });
});

describe('enrolToken', () => {
  it('creates an active email token with a generated serial, defaults and a hashed PIN', async () => {
    const deps = createFakeDeps();
    const token = await enrolToken(deps, request());
    assert.match(token.serial, /^PIEM[2-9A-HJ-NP-Z]{8}$/);
    assert.equal(token.tokenType, 'email');
    assert.equal(token.isActive, true);
    assert.equal(token.otpLength, 6);
    assert.equal(token.maxFailCount, 10);
    assert.equal(token.failCount, 0);
    assert.equal(token.info['email'], 'alice@example.org');
    assert.equal(token.info['creation_date'], '2026-11-26T08:00:00+00:00');
    assert.equal(token.pinHash, 'hash:1234');
    assert.deepEqual(await deps.store.tokens.findBySerial(token.serial), token);
  });

  it('records the owner, an explicit serial, otplen and SMTP identifier', async () => {
    const deps = createFakeDeps();
    const owner = await addUser(deps, 'alice');
    const token = await enrolToken(deps, request({ serial: 'EM-0001', otpLength: 8, owner, smtpIdentifier: 'relay' }));
    assert.equal(token.serial, 'EM-0001');
    assert.equal(token.otpLength, 8);
    assert.deepEqual(token.owner, { resolver: 'local', userId: owner.user.id, realm: 'default' });
    assert.equal(token.info['email.identifier'], 'relay');
  });

  it('requires an email address unless the token is dynamic_email', async () => {
    const deps = createFakeDeps();
    await assert.rejects(enrolToken(deps, request({ email: undefined })), isOtpError('TOKEN_NO_EMAIL'));
    await assert.rejects(enrolToken(deps, request({ email: '   ' })), isOtpError('TOKEN_NO_EMAIL'));
    const token = await enrolToken(deps, request({ email: undefined, isDynamicEmail: true }));
    assert.equal(token.info['dynamic_email'], 'True');
    assert.equal(token.info['email'], undefined);
  });

  it('rejects a malformed email address', async () => {
    const deps = createFakeDeps();
    for (const email of ['alice', 'alice@', '@example.org', 'alice@example', 'a b@example.org', 'alice@example.org>,bob@example.org', `${'a'.repeat(250)}@example.org`]) {
      await assert.rejects(enrolToken(deps, request({ email })), isOtpError('PARAMETER_INVALID', 'email'), email);
    }
  });

  it('accepts otplen 4 to 10 only', async () => {
    const deps = createFakeDeps();
    for (const otpLength of [3, 11, 6.5, Number.NaN]) {
      await assert.rejects(enrolToken(deps, request({ otpLength })), isOtpError('PARAMETER_INVALID', 'otplen'), String(otpLength));
    }
    assert.equal((await enrolToken(deps, request({ otpLength: 4 }))).otpLength, 4);
    assert.equal((await enrolToken(deps, request({ otpLength: 10 }))).otpLength, 10);
  });

  it('rejects a type other than email with TOKEN_TYPE_UNKNOWN, and takes EMAIL in any case', async () => {
    const deps = createFakeDeps();
    await assert.rejects(enrolToken(deps, request({ type: 'hotp' })), isOtpError('TOKEN_TYPE_UNKNOWN'));
    assert.equal((await enrolToken(deps, request({ type: 'EMAIL' }))).tokenType, 'email');
  });

  it('rejects a serial with characters outside the allowed set', async () => {
    const deps = createFakeDeps();
    await assert.rejects(enrolToken(deps, request({ serial: 'EM 1' })), isOtpError('PARAMETER_INVALID', 'serial'));
    await assert.rejects(enrolToken(deps, request({ serial: '' })), isOtpError('PARAMETER_INVALID', 'serial'));
  });

  it('updates the existing token when a serial is enrolled again', async () => {
    const deps = createFakeDeps();
    const owner = await addUser(deps, 'alice');
    const first = await enrolToken(deps, request({ serial: 'EM1', owner }));
    deps.clock.advance(60_000);
    const again = await enrolToken(deps, request({ serial: 'EM1', owner, email: 'new@example.org', pin: '5678', otpLength: 8, description: 'desk' }));
    assert.equal(again.id, first.id);
    assert.equal(again.info['email'], 'new@example.org');
    assert.equal(again.info['creation_date'], first.info['creation_date']);
    assert.equal(again.otpLength, 8);
    assert.equal(again.pinHash, 'hash:5678');
    assert.equal(again.description, 'desk');
    assert.equal((await deps.store.tokens.list({ page: 1, pageSize: 10, sortBy: 'id', sortDescending: false })).count, 1);
  });

  it('keeps the PIN when a re-enrolment gives none', async () => {
    const deps = createFakeDeps();
    await enrolToken(deps, request({ serial: 'EM1' }));
    const again = await enrolToken(deps, request({ serial: 'EM1', pin: undefined }));
    assert.equal(again.pinHash, 'hash:1234');
  });

  it('never mistakes a generated serial that happens to exist for a re-enrolment', async () => {
    // Both enrolments draw the same 8 serial bytes: the second must fail, not rewrite the first token.
    const deps = createFakeDeps();
    const sameBytes = [1, 2, 3, 4, 5, 6, 7, 8];
    deps.random = new SeededRandomSource('collide', [...sameBytes, ...sameBytes]);
    const first = await enrolToken(deps, request({ email: 'first@example.org' }));
    await assert.rejects(enrolToken(deps, request({ email: 'second@example.org', pin: '9999' })), isOtpError('TOKEN_SERIAL_EXISTS'));
    const stored = await deps.store.tokens.findBySerial(first.serial);
    assert.equal(stored?.info['email'], 'first@example.org');
    assert.equal(stored?.pinHash, 'hash:1234');
  });

  it('refuses to re-enrol a serial that belongs to another user with TOKEN_SERIAL_EXISTS', async () => {
    const deps = createFakeDeps();
    const alice = await addUser(deps, 'alice');
    const bob = await addUser(deps, 'bob');
    await enrolToken(deps, request({ serial: 'EM1', owner: alice }));
    await assert.rejects(enrolToken(deps, request({ serial: 'EM1', owner: bob, email: 'bob@example.org' })), isOtpError('TOKEN_SERIAL_EXISTS'));
    const token = await deps.store.tokens.findBySerial('EM1');
    assert.equal(token?.owner?.userId, alice.user.id);
    assert.equal(token?.info['email'], 'alice@example.org');
  });
});

describe('setTokenActive', () => {
  it('returns 1 when the state changes and 0 when it already was so', async () => {
    const deps = createFakeDeps();
    const token = await enrolToken(deps, request());
    assert.equal(await setTokenActive(deps, token.serial, true), 0);
    assert.equal(await setTokenActive(deps, token.serial, false), 1);
    assert.equal((await deps.store.tokens.findBySerial(token.serial))?.isActive, false);
    assert.equal(await setTokenActive(deps, token.serial, false), 0);
    assert.equal(await setTokenActive(deps, token.serial, true), 1);
    assert.equal((await deps.store.tokens.findBySerial(token.serial))?.isActive, true);
  });

  it('throws TOKEN_NOT_FOUND for an unknown serial', async () => {
    await assert.rejects(setTokenActive(createFakeDeps(), 'NOPE', false), isOtpError('TOKEN_NOT_FOUND'));
  });
});

describe('setTokenInfo', () => {
  it('sets and deletes the writable keys', async () => {
    const deps = createFakeDeps();
    const token = await enrolToken(deps, request());
    await setTokenInfo(deps, token.serial, 'email.identifier', 'relay');
    await setTokenInfo(deps, token.serial, 'email', 'other@example.org');
    let info = (await deps.store.tokens.findBySerial(token.serial))?.info;
    assert.equal(info?.['email.identifier'], 'relay');
    assert.equal(info?.['email'], 'other@example.org');
    await setTokenInfo(deps, token.serial, 'email.identifier', undefined);
    info = (await deps.store.tokens.findBySerial(token.serial))?.info;
    assert.equal(info?.['email.identifier'], undefined);
    assert.equal(info?.['creation_date'], token.info['creation_date']);
  });

  it('refuses keys outside the whitelist, so creation_date or made-up keys cannot be written', async () => {
    const deps = createFakeDeps();
    const token = await enrolToken(deps, request());
    for (const key of ['creation_date', 'otpkey', 'hashlib', 'EMAIL', '__proto__', '']) {
      await assert.rejects(setTokenInfo(deps, token.serial, key, 'x'), isOtpError('PARAMETER_INVALID', 'key'), key);
    }
    assert.deepEqual((await deps.store.tokens.findBySerial(token.serial))?.info, token.info);
  });

  it('checks a new email address', async () => {
    const deps = createFakeDeps();
    const token = await enrolToken(deps, request());
    await assert.rejects(setTokenInfo(deps, token.serial, 'email', 'not-an-address'), isOtpError('PARAMETER_INVALID', 'email'));
  });
});

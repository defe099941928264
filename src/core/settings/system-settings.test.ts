import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { FakeSecretBox } from '../../../test/support/fake-ports.js';
import { MemoryStore } from '../../../test/support/memory-store.js';
import { OtpError, type ErrorCode } from '../errors.js';
import { canonicalSettingKey, CENSORED, describeSettings, normalizeSetting, readSystemSettings, SETTING_DEFINITIONS, updateSettings } from './system-settings.js';

/** Names every plain object inherits: a lookup table must not mistake them for settings. */
const INHERITED_NAMES = ['constructor', 'toString', 'hasOwnProperty', 'valueOf', '__proto__'];

const NOW = Date.UTC(2026, 0, 1);

function isOtpError(code: ErrorCode): (error: unknown) => boolean {
  return (error: unknown) => error instanceof OtpError && error.code === code;
}

describe('normalizeSetting', () => {
  it('reads the usual spellings of booleans and stores "true" or "false"', () => {
    for (const value of ['1', 'true', 'True', 'yes', 'ON', true]) assert.equal(normalizeSetting('email.tls', value), 'true');
    for (const value of ['0', 'false', 'no', 'off', '', false]) assert.equal(normalizeSetting('email.tls', value), 'false');
  });

  it('rejects a boolean it cannot read', () => {
    assert.throws(() => normalizeSetting('email.tls', 'maybe'), isOtpError('SETTING_INVALID'));
  });

  it('accepts integers inside the range, numbers included, and stores them canonically', () => {
    assert.equal(normalizeSetting('email.port', '587'), '587');
    assert.equal(normalizeSetting('email.port', 465), '465');
    assert.equal(normalizeSetting('email.port', ' 0025 '), '25');
    assert.equal(normalizeSetting('email.validtime', '10'), '10');
    assert.equal(normalizeSetting('email.validtime', '86400'), '86400');
  });

  it('rejects integers outside the range, fractions, signs and words', () => {
    for (const value of ['0', '65536', '2.5', '-1', '+25', 'twenty', '', 1e21]) {
      assert.throws(() => normalizeSetting('email.port', value), isOtpError('SETTING_INVALID'), `email.port=${value}`);
    }
    assert.throws(() => normalizeSetting('email.validtime', '9'), isOtpError('SETTING_INVALID'));
    assert.throws(() => normalizeSetting('email.max_wrong_answers', '0'), isOtpError('SETTING_INVALID'));
  });

  it('trims strings and refuses line breaks in them', () => {
    assert.equal(normalizeSetting('email.mailserver', '  smtp.example.org '), 'smtp.example.org');
    assert.throws(() => normalizeSetting('email.mailfrom', 'a@example.org\r\nBcc: x@example.org'), isOtpError('SETTING_INVALID'));
  });

  it('checks templates for unknown tags', () => {
    assert.equal(normalizeSetting('email.subject', 'Code {otp}'), 'Code {otp}');
    assert.throws(() => normalizeSetting('email.subject', 'Code {code}'), isOtpError('TEMPLATE_INVALID'));
  });

  it('rejects an unknown key and a value that is not a string, number or boolean', () => {
    assert.throws(() => normalizeSetting('email.nonsense', 'x'), isOtpError('SETTING_UNKNOWN'));
    for (const name of INHERITED_NAMES) assert.throws(() => normalizeSetting(name, 'x'), isOtpError('SETTING_UNKNOWN'), name);
    assert.throws(() => normalizeSetting('email.port', { port: 25 }), isOtpError('SETTING_INVALID'));
    assert.throws(() => normalizeSetting('email.port', null), isOtpError('SETTING_INVALID'));
  });
});

describe('canonicalSettingKey', () => {
  it('maps the alias email.sender and leaves every other name as it is', () => {
    assert.equal(canonicalSettingKey('email.sender'), 'email.mailfrom');
    assert.equal(canonicalSettingKey('email.port'), 'email.port');
    for (const name of INHERITED_NAMES) assert.equal(canonicalSettingKey(name), name);
  });

  it('finds no definition for names inherited from Object.prototype', () => {
    for (const name of INHERITED_NAMES) assert.equal(SETTING_DEFINITIONS[name], undefined, name);
  });
});

describe('updateSettings', () => {
  it('writes new keys as "insert" and existing ones as "update"', async () => {
    const store = new MemoryStore();
    const box = new FakeSecretBox();
    assert.deepEqual(await updateSettings(store.settings, box, { 'email.port': '587' }, NOW), { 'email.port': 'insert' });
    assert.deepEqual(await updateSettings(store.settings, box, { 'email.port': '588', 'email.tls': 'yes' }, NOW), {
      'email.port': 'update',
      'email.tls': 'insert',
    });
    const stored = await store.settings.getAll();
    assert.equal(stored.get('email.port'), '588');
    assert.equal(stored.get('email.tls'), 'true');
  });

  it('stores email.sender under its canonical key email.mailfrom', async () => {
    const store = new MemoryStore();
    const result = await updateSettings(store.settings, new FakeSecretBox(), { 'email.sender': 'otp@example.org' }, NOW);
    assert.deepEqual(result, { 'email.sender': 'insert' });
    const stored = await store.settings.getAll();
    assert.equal(stored.get('email.mailfrom'), 'otp@example.org');
    assert.equal(stored.has('email.sender'), false);
    assert.equal((await readSystemSettings(store.settings, new FakeSecretBox())).mailFrom, 'otp@example.org');
  });

  it('seals secrets: the stored value is not the plaintext, and reading opens it again', async () => {
    const store = new MemoryStore();
    const box = new FakeSecretBox();
    await updateSettings(store.settings, box, { 'email.password': 'hunter2-smtp' }, NOW);
    const stored = (await store.settings.getAll()).get('email.password');
    assert.ok(stored !== undefined && stored !== 'hunter2-smtp' && !stored.includes('hunter2-smtp'));
    assert.equal((await readSystemSettings(store.settings, box)).mailPassword, 'hunter2-smtp');
  });

  it('keeps the stored secret when __CENSORED__ is posted back', async () => {
    const store = new MemoryStore();
    const box = new FakeSecretBox();
    await updateSettings(store.settings, box, { 'email.password': 'hunter2-smtp' }, NOW);
    await updateSettings(store.settings, box, { 'email.password': CENSORED, 'email.username': 'mailer' }, NOW);
    const settings = await readSystemSettings(store.settings, box);
    assert.equal(settings.mailPassword, 'hunter2-smtp');
    assert.equal(settings.mailUsername, 'mailer');
  });

  it('clears a secret when an empty value is posted', async () => {
    const store = new MemoryStore();
    const box = new FakeSecretBox();
    await updateSettings(store.settings, box, { 'email.password': 'hunter2-smtp' }, NOW);
    await updateSettings(store.settings, box, { 'email.password': '' }, NOW);
    assert.equal((await readSystemSettings(store.settings, box)).mailPassword, '');
  });

  it('writes nothing when one entry among valid ones is invalid', async () => {
    const store = new MemoryStore();
    const box = new FakeSecretBox();
    await assert.rejects(
      updateSettings(store.settings, box, { 'email.mailserver': 'smtp.example.org', 'email.port': '99999', 'email.tls': 'true' }, NOW),
      isOtpError('SETTING_INVALID'),
    );
    await assert.rejects(updateSettings(store.settings, box, { 'email.mailserver': 'smtp.example.org', 'email.bogus': '1' }, NOW), isOtpError('SETTING_UNKNOWN'));
    assert.equal((await store.settings.getAll()).size, 0);
  });

  it('rejects keys inherited from Object.prototype as unknown and writes nothing', async () => {
    const store = new MemoryStore();
    for (const name of INHERITED_NAMES) {
      const entries = JSON.parse(`{"email.port": "587", ${JSON.stringify(name)}: "x"}`) as Record<string, unknown>;
      await assert.rejects(updateSettings(store.settings, new FakeSecretBox(), entries, NOW), isOtpError('SETTING_UNKNOWN'), name);
    }
    assert.equal((await store.settings.getAll()).size, 0);
  });
});

describe('readSystemSettings', () => {
  it('gives the documented defaults on an empty store', async () => {
    const settings = await readSystemSettings(new MemoryStore().settings, new FakeSecretBox());
    assert.equal(settings.mailServer, 'localhost');
    assert.equal(settings.mailPort, 25);
    assert.equal(settings.isMailStartTls, false);
    assert.equal(settings.validitySeconds, 120);
    assert.equal(settings.maxWrongAnswersPerChallenge, 3);
    assert.equal(settings.mailSubject, 'Your OTP');
    assert.equal(settings.challengeText, 'Enter the OTP from the Email');
    assert.equal(settings.mailPassword, '');
  });

  it('returns typed values from stored text', async () => {
    const store = new MemoryStore();
    const box = new FakeSecretBox();
    await updateSettings(store.settings, box, { 'email.port': '465', 'email.tls': 'on', 'email.validtime': '300' }, NOW);
    const settings = await readSystemSettings(store.settings, box);
    assert.equal(settings.mailPort, 465);
    assert.equal(settings.isMailStartTls, true);
    assert.equal(settings.validitySeconds, 300);
    assert.ok(Object.isFrozen(settings));
  });
});

describe('describeSettings', () => {
  it('lists every key with its effective value', async () => {
    const store = new MemoryStore();
    await updateSettings(store.settings, new FakeSecretBox(), { 'email.mailserver': 'smtp.example.org' }, NOW);
    const view = await describeSettings(store.settings);
    assert.equal(view['email.mailserver'], 'smtp.example.org');
    assert.equal(view['email.port'], '25');
    assert.equal(view['email.sender'], undefined);
  });

  it('censors a stored secret and shows an unset one as empty', async () => {
    const store = new MemoryStore();
    assert.equal((await describeSettings(store.settings))['email.password'], '');
    await updateSettings(store.settings, new FakeSecretBox(), { 'email.password': 'hunter2-smtp' }, NOW);
    const view = await describeSettings(store.settings);
    assert.equal(view['email.password'], CENSORED);
    assert.ok(!JSON.stringify(view).includes('hunter2'));
  });
});

describe('readSystemSettings per stored map', () => {
  /** A repository that hands out one map until replaced, as the read cache does; counts secret openings. */
  function cachingRepository(initial: Map<string, string>) {
    const box = new FakeSecretBox();
    let opened = 0;
    const secretBox = { seal: (text: string) => box.seal(text), open: (sealed: string) => ((opened += 1), box.open(sealed)) };
    let current: ReadonlyMap<string, string> = initial;
    const repository = { getAll: async () => current, setMany: async () => undefined, delete: async () => false };
    return { repository, secretBox, opened: () => opened, replace: (next: Map<string, string>) => void (current = next) };
  }

  it('parses a stored map once and opens the SMTP password once, and reads a changed map anew', async () => {
    const world = cachingRepository(new Map([['email.password', new FakeSecretBox().seal('s3cret')], ['email.rate_user', '5/60']]));
    const first = await readSystemSettings(world.repository, world.secretBox);
    const second = await readSystemSettings(world.repository, world.secretBox);
    assert.equal(second, first);
    assert.equal(world.opened(), 1);
    assert.deepEqual({ password: first.mailPassword, rate: first.userSendRate?.count }, { password: 's3cret', rate: 5 });
    world.replace(new Map([['email.rate_user', '7/60']]));
    const changed = await readSystemSettings(world.repository, world.secretBox);
    assert.deepEqual({ password: changed.mailPassword, rate: changed.userSendRate?.count }, { password: '', rate: 7 });
  });
});

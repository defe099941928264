import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { FakeSecretBox } from '../../../test/support/fake-ports.js';
import { MemoryStore } from '../../../test/support/memory-store.js';
import { OtpError } from '../errors.js';
import { parseServerAddress, resolveSmtpSettings } from './resolve-smtp.js';
import type { SmtpServer } from './smtp-server.js';
import { readSystemSettings, updateSettings, type SystemSettings } from './system-settings.js';

const NOW = Date.UTC(2026, 0, 1);
const box = new FakeSecretBox();

function server(identifier: string, overrides: Partial<SmtpServer> = {}): SmtpServer {
  return {
    identifier,
    server: `${identifier}.example.org`,
    port: 25,
    username: '',
    sealedPassword: '',
    sender: `otp@${identifier}.example.org`,
    isStartTls: false,
    timeoutSeconds: 10,
    description: '',
    ...overrides,
  };
}

async function setup(settings: Record<string, string>, servers: SmtpServer[]): Promise<{ store: MemoryStore; system: SystemSettings }> {
  const store = new MemoryStore();
  await updateSettings(store.settings, box, { 'email.mailserver': 'legacy.example.org', 'email.mailfrom': 'otp@legacy.example.org', ...settings }, NOW);
  for (const entry of servers) await store.smtpServers.upsert(entry, NOW);
  return { store, system: await readSystemSettings(store.settings, box) };
}

describe('resolveSmtpSettings', () => {
  it('uses the email.* keys when no identifier is set anywhere', async () => {
    const { store, system } = await setup({ 'email.port': '587', 'email.username': 'u', 'email.password': 'p4ss', 'email.tls': 'true' }, [server('alpha')]);
    const resolved = await resolveSmtpSettings(store.smtpServers, box, system, undefined);
    assert.equal(resolved.length, 1);
    assert.deepEqual(resolved[0], {
      identifier: 'system', host: 'legacy.example.org', port: 587, isImplicitTls: false, isStartTlsRequired: true,
      username: 'u', password: 'p4ss', sender: 'otp@legacy.example.org', timeoutSeconds: 10,
    });
  });

  it('prefers the system identifier over the email.* keys', async () => {
    const { store, system } = await setup({ 'email.identifier': 'alpha' }, [server('alpha'), server('beta')]);
    const resolved = await resolveSmtpSettings(store.smtpServers, box, system, undefined);
    assert.deepEqual(resolved.map((entry) => entry.identifier), ['alpha']);
    assert.equal(resolved[0]?.host, 'alpha.example.org');
  });

  it('prefers the token identifier over the system identifier', async () => {
    const { store, system } = await setup({ 'email.identifier': 'alpha' }, [server('alpha'), server('beta')]);
    const resolved = await resolveSmtpSettings(store.smtpServers, box, system, 'beta');
    assert.deepEqual(resolved.map((entry) => entry.identifier), ['beta']);
  });

  it('returns a comma-separated list in the order given, skipping blanks', async () => {
    const { store, system } = await setup({}, [server('alpha'), server('beta'), server('gamma')]);
    const resolved = await resolveSmtpSettings(store.smtpServers, box, system, ' gamma, ,alpha ,beta');
    assert.deepEqual(resolved.map((entry) => entry.identifier), ['gamma', 'alpha', 'beta']);
  });

  it('opens the sealed password of a named server', async () => {
    const { store, system } = await setup({}, [server('alpha', { username: 'mailer', sealedPassword: box.seal('s3cret') })]);
    const [resolved] = await resolveSmtpSettings(store.smtpServers, box, system, 'alpha');
    assert.equal(resolved?.username, 'mailer');
    assert.equal(resolved?.password, 's3cret');
  });

  it('treats smtps:// and port 465 as implicit TLS and never adds STARTTLS on top', async () => {
    const { store, system } = await setup({}, [
      server('scheme', { server: 'smtps://mx.example.org', port: 2465, isStartTls: true }),
      server('port', { server: 'mx.example.org', port: 465, isStartTls: true }),
      server('plain', { server: 'smtp://mx.example.org', port: 587, isStartTls: true }),
    ]);
    const [scheme, port, plain] = await resolveSmtpSettings(store.smtpServers, box, system, 'scheme,port,plain');
    assert.deepEqual([scheme?.host, scheme?.port, scheme?.isImplicitTls, scheme?.isStartTlsRequired], ['mx.example.org', 2465, true, false]);
    assert.deepEqual([port?.host, port?.isImplicitTls, port?.isStartTlsRequired], ['mx.example.org', true, false]);
    assert.deepEqual([plain?.host, plain?.isImplicitTls, plain?.isStartTlsRequired], ['mx.example.org', false, true]);
  });

  it('treats port 465 in the email.* keys as implicit TLS without STARTTLS', async () => {
    const { store, system } = await setup({ 'email.port': '465', 'email.tls': 'true' }, []);
    const [resolved] = await resolveSmtpSettings(store.smtpServers, box, system, undefined);
    assert.deepEqual([resolved?.isImplicitTls, resolved?.isStartTlsRequired], [true, false]);
  });

  it('hands out one frozen email.* server per settings object, and a new one once the settings change', async () => {
    const { store, system } = await setup({ 'email.port': '587' }, []);
    const [first] = await resolveSmtpSettings(store.smtpServers, box, system, undefined);
    const [again] = await resolveSmtpSettings(store.smtpServers, box, system, undefined);
    // The same object: the mailer keys its connection pool on it without hashing the settings per mail.
    assert.equal(again, first);
    assert.ok(Object.isFrozen(first));
    await updateSettings(store.settings, box, { 'email.port': '2525' }, NOW);
    const [changed] = await resolveSmtpSettings(store.smtpServers, box, await readSystemSettings(store.settings, box), undefined);
    assert.notEqual(changed, first);
    assert.deepEqual([first?.port, changed?.port], [587, 2525]);
  });

  it('throws MAIL_NOT_CONFIGURED when no listed identifier exists', async () => {
    const { store, system } = await setup({ 'email.identifier': 'missing' }, [server('alpha')]);
    await assert.rejects(
      resolveSmtpSettings(store.smtpServers, box, system, undefined),
      (error: unknown) => error instanceof OtpError && error.code === 'MAIL_NOT_CONFIGURED',
    );
    await assert.rejects(
      resolveSmtpSettings(store.smtpServers, box, system, 'nope,neither'),
      (error: unknown) => error instanceof OtpError && error.code === 'MAIL_NOT_CONFIGURED',
    );
  });
});

describe('parseServerAddress', () => {
  it('strips the scheme, a port and a trailing slash from a URL', () => {
    assert.deepEqual(parseServerAddress('smtps://mx.example.org:465/', 465), { host: 'mx.example.org', isImplicitTls: true });
    assert.deepEqual(parseServerAddress('SMTP://mx.example.org', 25), { host: 'mx.example.org', isImplicitTls: false });
    assert.deepEqual(parseServerAddress(' mx.example.org ', 587), { host: 'mx.example.org', isImplicitTls: false });
  });
});

import assert from 'node:assert/strict';
import { beforeEach, describe, it } from 'node:test';
import { createFakeDeps } from '../../../test/support/fake-ports.js';
import { MemoryStore } from '../../../test/support/memory-store.js';
import { readSystemSettings, type SystemSettings } from '../settings/system-settings.js';
import { clientFailureKey, sendLimitBuckets, type SendSubject } from './send-limits.js';

const SUBJECT: SendSubject = { userKey: 'local:42', recipients: ['Alice@Example.org', 'alice@work.example'], clientIp: '192.0.2.7' };
const ALL_KEYS = ['send:user:local:42', 'send:address:alice@example.org', 'send:address:alice@work.example', 'send:client:192.0.2.7', 'send:global'];

describe('send limits', () => {
  let store: MemoryStore;
  let settings: SystemSettings;
  const NOW = 1_000_000;

  beforeEach(async () => {
    const deps = createFakeDeps();
    store = deps.store;
    settings = await readSystemSettings(deps.store.settings, deps.secretBox);
  });

  /** The buckets' verdict on queueing a mail for `subject`: undefined when allowed, else seconds to wait. */
  const allowance = async (rates: SystemSettings, subject: SendSubject): Promise<number | undefined> => {
    const verdict = await store.queueChallenges({ buckets: sendLimitBuckets(rates, subject), challenges: [], mails: [] }, NOW);
    return verdict.isAllowed ? undefined : verdict.retryAfterSeconds;
  };
  const keysOf = (rates: SystemSettings, subject: SendSubject): string[] => sendLimitBuckets(rates, subject).map((bucket) => bucket.key);

  const unitsLeft = async (key: string, capacity: number, windowMilliseconds: number): Promise<boolean> =>
    (await store.rateLimits.hasUnit(key, capacity, windowMilliseconds, NOW)).isAllowed;

  it('takes one unit from each bucket at once: user, each address (lower-cased), client, global', async () => {
    assert.deepEqual(keysOf(settings, SUBJECT), ALL_KEYS);
    assert.equal(await allowance(settings, SUBJECT), undefined);
  });

  it('has sane defaults: 10 per user in 10 minutes, then a refusal', async () => {
    const subject: SendSubject = { userKey: 'local:1', recipients: ['a@example.org'], clientIp: '192.0.2.1' };
    for (let index = 0; index < 10; index += 1) assert.equal(await allowance(settings, subject), undefined);
    assert.equal(await allowance(settings, subject), 60, 'one of 10 units per 600 s refills in 60 s');
  });

  it('skips buckets that are off and the ones the request has no key for', async () => {
    const partial = { ...settings, addressSendRate: undefined, globalSendRate: undefined };
    assert.deepEqual(keysOf(partial, { userKey: undefined, recipients: ['a@example.org'], clientIp: '192.0.2.7' }), ['send:client:192.0.2.7']);
  });

  it('charges no bucket at all when one of them refuses, and answers the longest wait', async () => {
    const tight = { ...settings, userSendRate: { count: 1, windowMilliseconds: 600_000 }, clientSendRate: { count: 1, windowMilliseconds: 60_000 } };
    assert.equal(await allowance(tight, SUBJECT), undefined);
    const retryAfterSeconds = await allowance(tight, SUBJECT);
    assert.equal(retryAfterSeconds, 600, 'the user bucket (600 s per unit) is the one to wait for, not the client one (60 s)');
    // The addresses and the global bucket kept their units: 9 more fit before the address limit.
    const other = { ...SUBJECT, userKey: 'local:43', clientIp: '192.0.2.8' };
    for (let index = 0; index < 9; index += 1) assert.equal(await allowance(settings, other), undefined, `send ${index + 2}`);
    assert.equal(await allowance(settings, other), 60, "the eleventh send to those addresses");
  });

  it('lets one client past its own limit drain neither the global bucket nor the users it names', async () => {
    const rates = { ...settings, clientSendRate: { count: 2, windowMilliseconds: 60_000 }, globalSendRate: { count: 5, windowMilliseconds: 60_000 } };
    const from = (user: number): SendSubject => ({ userKey: `local:${user}`, recipients: [`u${user}@example.org`], clientIp: '198.51.100.66' });
    assert.equal(await allowance(rates, from(1)), undefined);
    assert.equal(await allowance(rates, from(2)), undefined);
    for (let user = 3; user < 50; user += 1) assert.equal(await allowance(rates, from(user)), 30);
    assert.ok(await unitsLeft('send:user:local:3', 10, 600_000));
    // 3 of the 5 global units are left for everybody else.
    for (let index = 0; index < 3; index += 1) {
      assert.equal(await allowance(rates, { userKey: `local:x${index}`, recipients: [`x${index}@example.org`], clientIp: `203.0.113.${index}` }), undefined);
    }
    assert.equal(await allowance(rates, { userKey: 'local:y', recipients: ['y@example.org'], clientIp: '203.0.113.99' }), 12);
  });

  it('bounds keys to the column width (255)', async () => {
    const long = `${'x'.repeat(300)}@example.org`;
    const keys = keysOf(settings, { userKey: undefined, recipients: [long], clientIp: undefined });
    assert.deepEqual(keys.map((key) => key.length), [255, 'send:global'.length]);
    assert.equal(clientFailureKey('x'.repeat(400)).length, 255);
  });
});

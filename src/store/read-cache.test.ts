import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { MemoryStore } from '../../test/support/memory-store.js';
import { cacheRealms, cacheSettings, ReadCache } from './read-cache.js';

describe('read cache', () => {
  it('hands every caller the same frozen realm, reads the store once, and forgets it on a write', async () => {
    const store = new MemoryStore();
    await store.realms.upsert('corp', ['local'], 0);
    await store.realms.setDefault('corp');
    let reads = 0;
    const counted = { ...store.realms, findDefault: async () => ((reads += 1), store.realms.findDefault()) };
    const realms = cacheRealms(counted, new ReadCache(60_000));
    const first = await realms.findDefault();
    const second = await realms.findDefault();
    assert.equal(second, first);
    assert.equal(reads, 1);
    assert.ok(Object.isFrozen(first) && Object.isFrozen(first!.resolvers), 'a caller could change what the next one reads');
    assert.throws(() => first!.resolvers.push('other'), TypeError);
    await store.realms.upsertResolver({ name: 'second', type: 'local' }, 0);
    await realms.upsert('corp', ['local', 'second'], 0);
    assert.deepEqual((await realms.findDefault())?.resolvers, ['local', 'second']);
    assert.equal(reads, 2);
  });

  it('hands out one settings map until a write, then the new one', async () => {
    const store = new MemoryStore();
    const settings = cacheSettings(store.settings, new ReadCache(60_000));
    const first = await settings.getAll();
    assert.equal(await settings.getAll(), first);
    await settings.setMany(new Map([['email.port', '2525']]), 0);
    const after = await settings.getAll();
    assert.notEqual(after, first);
    assert.equal(after.get('email.port'), '2525');
  });
});

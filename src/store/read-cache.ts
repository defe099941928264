import { performance } from 'node:perf_hooks';
import type { RealmRepository, SettingRepository } from '../core/ports.js';
import type { Realm } from '../core/users/user.js';

/**
 * Settings and realms are read on every login but change rarely. This keeps them for `ttlMilliseconds`
 * (monotonic time): a write through this node clears it at once, a write on another node is seen within
 * the TTL. Half a second keeps the cluster promise "a setting changed on one node takes effect on every
 * node within a second" while saving four queries per request.
 */
export class ReadCache {
  readonly #ttlMilliseconds: number;
  readonly #entries = new Map<string, { loadedAt: number; value: Promise<unknown> }>();

  constructor(ttlMilliseconds = 500) {
    this.#ttlMilliseconds = ttlMilliseconds;
  }

  get<T>(key: string, load: () => Promise<T>): Promise<T> {
    const now = performance.now();
    const entry = this.#entries.get(key);
    if (entry && now - entry.loadedAt < this.#ttlMilliseconds) return entry.value as Promise<T>;
    const value = load();
    this.#entries.set(key, { loadedAt: now, value });
    // A failed read is not remembered.
    value.catch(() => this.#entries.delete(key));
    return value;
  }

  clear(): void {
    this.#entries.clear();
  }
}

export function cacheSettings(inner: SettingRepository, cache: ReadCache): SettingRepository {
  return {
    getAll: () => cache.get('settings', () => inner.getAll()),
    async setMany(entries, nowMilliseconds) {
      try {
        await inner.setMany(entries, nowMilliseconds);
      } finally {
        cache.clear();
      }
    },
    async delete(key) {
      try {
        return await inner.delete(key);
      } finally {
        cache.clear();
      }
    },
  };
}

/**
 * A cached realm is shared by every request that reads it, so it is frozen rather than copied per
 * caller (structuredClone cost about 4 % of a transaction_id answer's event-loop time).
 */
function frozen(realm: Realm | undefined): Realm | undefined {
  if (!realm) return undefined;
  Object.freeze(realm.resolvers);
  return Object.freeze(realm);
}

export function cacheRealms(inner: RealmRepository, cache: ReadCache): RealmRepository {
  const clearing = <A extends unknown[], R>(write: (...args: A) => Promise<R>) => async (...args: A): Promise<R> => {
    try {
      return await write(...args);
    } finally {
      cache.clear();
    }
  };
  return {
    find: (name) => cache.get(`realm:${name}`, async () => frozen(await inner.find(name))),
    findDefault: () => cache.get('realm-default', async () => frozen(await inner.findDefault())),
    list: () => inner.list(),
    listResolvers: () => inner.listResolvers(),
    upsert: clearing(inner.upsert),
    setDefault: clearing(inner.setDefault),
    delete: clearing(inner.delete),
    upsertResolver: clearing(inner.upsertResolver),
    deleteResolver: clearing(inner.deleteResolver),
  };
}

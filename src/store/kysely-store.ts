import type { Kysely } from 'kysely';
import type { Store } from '../core/ports.js';
import { createAdminRepository } from './admin-repository.js';
import { createAuditRepository } from './audit-repository.js';
import { createChallengeRepository } from './challenge-repository.js';
import { inTransaction } from './in-transaction.js';
import { createRealmRepository } from './realm-repository.js';
import type { Database, DialectName } from './schema.js';
import { createOutboxRepository } from './outbox-repository.js';
import { createRateLimitRepository } from './rate-limit-repository.js';
import { createSettingRepository } from './setting-repository.js';
import { createSmtpServerRepository } from './smtp-server-repository.js';
import { createTokenRepository } from './token-repository.js';
import { createUserRepository } from './user-repository.js';
import { createChallengeQueue } from './queue-challenges.js';
import { cacheRealms, cacheSettings, ReadCache } from './read-cache.js';

/**
 * The Store port on Kysely: the same code for SQLite and PostgreSQL. One ReadCache serves the store and
 * every transaction-bound copy of it, so a write inside a transaction clears what the others see.
 */
export function createKyselyStore(db: Kysely<Database>, dialect: DialectName, now: () => number, cache = new ReadCache()): Store {
  return {
    tokens: createTokenRepository(db),
    challenges: createChallengeRepository(db, dialect),
    users: createUserRepository(db, dialect, now),
    realms: cacheRealms(createRealmRepository(db), cache),
    settings: cacheSettings(createSettingRepository(db), cache),
    smtpServers: createSmtpServerRepository(db),
    admins: createAdminRepository(db),
    audit: createAuditRepository(db),
    outbox: createOutboxRepository(db, dialect),
    rateLimits: createRateLimitRepository(db, dialect),
    queueChallenges: createChallengeQueue(db, dialect),
    transaction: <T>(work: (store: Store) => Promise<T>): Promise<T> => inTransaction(db, (trx) => work(createKyselyStore(trx, dialect, now, cache))),
  };
}

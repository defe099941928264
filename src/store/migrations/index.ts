import { Migrator, type Kysely, type Migration, type MigrationProvider } from 'kysely';
import { OtpError } from '../../core/errors.js';
import type { Database, DialectName } from '../schema.js';
import { initialMigration } from './0001-initial.js';
import { defaultRealmMigration } from './0002-default-realm.js';
import { outboxAndRateLimitsMigration } from './0003-outbox-and-rate-limits.js';
import { outboxCleanupIndexMigration } from './0004-outbox-cleanup-index.js';
import { challengeExpiryIndexMigration } from './0005-challenge-expiry-index.js';
import { deliveryStateTriggerMigration } from './0006-delivery-state-trigger.js';
import { pendingOutboxIndexMigration } from './0007-pending-outbox-index.js';

/** In-code migrations, applied in name order. Append only; never edit one that has shipped. */
function migrationsFor(dialect: DialectName): Record<string, Migration> {
  return {
    '0001-initial': initialMigration(dialect),
    '0002-default-realm': defaultRealmMigration,
    '0003-outbox-and-rate-limits': outboxAndRateLimitsMigration,
    '0004-outbox-cleanup-index': outboxCleanupIndexMigration,
    '0005-challenge-expiry-index': challengeExpiryIndexMigration,
    '0006-delivery-state-trigger': deliveryStateTriggerMigration(dialect),
    '0007-pending-outbox-index': pendingOutboxIndexMigration,
  };
}

class InCodeMigrationProvider implements MigrationProvider {
  readonly #dialect: DialectName;
  constructor(dialect: DialectName) {
    this.#dialect = dialect;
  }
  async getMigrations(): Promise<Record<string, Migration>> {
    return migrationsFor(this.#dialect);
  }
}

/**
 * Brings the schema up to date. On PostgreSQL Kysely holds an advisory lock meanwhile, so nodes that
 * start together migrate once.
 */
export async function migrateToLatest(db: Kysely<Database>, dialect: DialectName): Promise<string[]> {
  const { error, results } = await migratorFor(db, dialect).migrateToLatest();
  if (error) throw new OtpError('STORE_UNAVAILABLE', { detail: 'migration failed', cause: error });
  return (results ?? []).filter((result) => result.status === 'Success').map((result) => result.migrationName);
}

/** The schema as migration `name` left it, and no further: for tests of a later migration against rows written before it. */
export async function migrateTo(db: Kysely<Database>, dialect: DialectName, name: string): Promise<void> {
  const { error } = await migratorFor(db, dialect).migrateTo(name);
  if (error) throw new OtpError('STORE_UNAVAILABLE', { detail: 'migration failed', cause: error });
}

function migratorFor(db: Kysely<Database>, dialect: DialectName): Migrator {
  return new Migrator({ db, provider: new InCodeMigrationProvider(dialect), migrationTableName: 'mailotp_migration', migrationLockTableName: 'mailotp_migration_lock' });
}

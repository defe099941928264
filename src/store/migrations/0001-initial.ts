import { type Kysely, type Migration } from 'kysely';
import type { DialectName } from '../schema.js';

/** Portable DDL only: ids and times come from the application, never from database defaults. */
export function initialMigration(dialect: DialectName): Migration {
  const autoId = dialect === 'postgres' ? 'bigserial' : 'integer';
  return {
    async up(db: Kysely<unknown>): Promise<void> {
      await db.schema
        .createTable('admin')
        .addColumn('username', 'varchar(64)', (c) => c.primaryKey())
        .addColumn('password_hash', 'text', (c) => c.notNull())
        .addColumn('created_at', 'bigint', (c) => c.notNull())
        .execute();
      await db.schema
        .createTable('resolver')
        .addColumn('name', 'varchar(64)', (c) => c.primaryKey())
        .addColumn('type', 'varchar(32)', (c) => c.notNull())
        .addColumn('created_at', 'bigint', (c) => c.notNull())
        .execute();
      await db.schema
        .createTable('realm')
        .addColumn('name', 'varchar(64)', (c) => c.primaryKey())
        .addColumn('is_default', 'integer', (c) => c.notNull())
        .addColumn('created_at', 'bigint', (c) => c.notNull())
        .execute();
      await db.schema
        .createTable('realm_resolver')
        .addColumn('realm', 'varchar(64)', (c) => c.notNull().references('realm.name').onDelete('cascade'))
        .addColumn('resolver', 'varchar(64)', (c) => c.notNull().references('resolver.name'))
        .addColumn('priority', 'integer', (c) => c.notNull())
        .addPrimaryKeyConstraint('realm_resolver_pk', ['realm', 'resolver'])
        .execute();
      await db.schema
        .createTable('local_user')
        .addColumn('id', autoId, (c) => (dialect === 'sqlite' ? c.primaryKey().autoIncrement() : c.primaryKey()))
        .addColumn('resolver', 'varchar(64)', (c) => c.notNull().references('resolver.name'))
        .addColumn('login', 'varchar(128)', (c) => c.notNull())
        .addColumn('email', 'varchar(254)', (c) => c.notNull())
        .addColumn('givenname', 'varchar(128)', (c) => c.notNull())
        .addColumn('surname', 'varchar(128)', (c) => c.notNull())
        .addColumn('phone', 'varchar(128)', (c) => c.notNull())
        .addColumn('mobile', 'varchar(128)', (c) => c.notNull())
        .addColumn('created_at', 'bigint', (c) => c.notNull())
        .addUniqueConstraint('local_user_login_unique', ['resolver', 'login'])
        .execute();
      await db.schema
        .createTable('token')
        .addColumn('id', autoId, (c) => (dialect === 'sqlite' ? c.primaryKey().autoIncrement() : c.primaryKey()))
        .addColumn('serial', 'varchar(64)', (c) => c.notNull().unique())
        .addColumn('token_type', 'varchar(16)', (c) => c.notNull())
        .addColumn('description', 'varchar(256)', (c) => c.notNull())
        .addColumn('is_active', 'integer', (c) => c.notNull())
        .addColumn('is_revoked', 'integer', (c) => c.notNull())
        .addColumn('is_locked', 'integer', (c) => c.notNull())
        .addColumn('fail_count', 'integer', (c) => c.notNull())
        .addColumn('max_fail_count', 'integer', (c) => c.notNull())
        .addColumn('otp_length', 'integer', (c) => c.notNull())
        .addColumn('count', 'integer', (c) => c.notNull())
        .addColumn('pin_hash', 'text')
        .addColumn('user_resolver', 'varchar(64)')
        .addColumn('user_id', 'varchar(128)')
        .addColumn('user_realm', 'varchar(64)')
        .addColumn('info_json', 'text', (c) => c.notNull())
        .addColumn('created_at', 'bigint', (c) => c.notNull())
        .addColumn('fail_count_updated_at', 'bigint')
        .addColumn('count_auth', 'integer', (c) => c.notNull())
        .addColumn('count_auth_success', 'integer', (c) => c.notNull())
        .execute();
      await db.schema.createIndex('token_owner_index').on('token').columns(['user_resolver', 'user_id']).execute();
      await db.schema
        .createTable('challenge')
        .addColumn('id', 'varchar(64)', (c) => c.primaryKey())
        .addColumn('transaction_id', 'varchar(64)', (c) => c.notNull())
        .addColumn('token_id', 'bigint', (c) => c.notNull().references('token.id').onDelete('cascade'))
        .addColumn('otp_hash', 'varchar(128)', (c) => c.notNull())
        .addColumn('created_at', 'bigint', (c) => c.notNull())
        .addColumn('expires_at', 'bigint', (c) => c.notNull())
        .addColumn('used_at', 'bigint')
        .addColumn('wrong_count', 'integer', (c) => c.notNull())
        .addColumn('max_wrong_count', 'integer', (c) => c.notNull())
        .addColumn('delivery_state', 'varchar(16)', (c) => c.notNull())
        .execute();
      await db.schema.createIndex('challenge_transaction_index').on('challenge').column('transaction_id').execute();
      await db.schema.createIndex('challenge_token_index').on('challenge').columns(['token_id', 'expires_at']).execute();
      await db.schema
        .createTable('setting')
        .addColumn('key', 'varchar(128)', (c) => c.primaryKey())
        .addColumn('value', 'text', (c) => c.notNull())
        .addColumn('updated_at', 'bigint', (c) => c.notNull())
        .execute();
      await db.schema
        .createTable('smtp_server')
        .addColumn('identifier', 'varchar(64)', (c) => c.primaryKey())
        .addColumn('server', 'varchar(255)', (c) => c.notNull())
        .addColumn('port', 'integer', (c) => c.notNull())
        .addColumn('username', 'varchar(255)', (c) => c.notNull())
        .addColumn('password_sealed', 'text', (c) => c.notNull())
        .addColumn('sender', 'varchar(255)', (c) => c.notNull())
        .addColumn('is_start_tls', 'integer', (c) => c.notNull())
        .addColumn('timeout_seconds', 'integer', (c) => c.notNull())
        .addColumn('description', 'varchar(255)', (c) => c.notNull())
        .addColumn('updated_at', 'bigint', (c) => c.notNull())
        .execute();
      await db.schema
        .createTable('audit_event')
        .addColumn('id', autoId, (c) => (dialect === 'sqlite' ? c.primaryKey().autoIncrement() : c.primaryKey()))
        .addColumn('at', 'bigint', (c) => c.notNull())
        .addColumn('action', 'varchar(64)', (c) => c.notNull())
        .addColumn('is_success', 'integer', (c) => c.notNull())
        .addColumn('serial', 'varchar(64)')
        .addColumn('username', 'varchar(255)')
        .addColumn('realm', 'varchar(64)')
        .addColumn('client_ip', 'varchar(64)')
        .addColumn('info', 'varchar(255)')
        .execute();
      await db.schema.createIndex('audit_event_at_index').on('audit_event').column('at').execute();
    },
    async down(): Promise<void> {
      throw new Error('mailotp migrations are forward-only');
    },
  };
}

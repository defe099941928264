import type { Kysely, Migration } from 'kysely';

/** The durable mail outbox and the shared token buckets (mail delivery you can trust). */
export const outboxAndRateLimitsMigration: Migration = {
  async up(db: Kysely<unknown>): Promise<void> {
    await db.schema
      .createTable('outbox')
      .addColumn('id', 'varchar(64)', (c) => c.primaryKey())
      .addColumn('transaction_id', 'varchar(64)', (c) => c.notNull())
      .addColumn('token_id', 'bigint', (c) => c.notNull())
      .addColumn('serial', 'varchar(64)', (c) => c.notNull())
      .addColumn('recipient', 'varchar(254)', (c) => c.notNull())
      .addColumn('smtp_identifier', 'varchar(255)', (c) => c.notNull())
      .addColumn('sealed_content', 'text', (c) => c.notNull())
      .addColumn('message_id', 'varchar(255)', (c) => c.notNull())
      .addColumn('state', 'varchar(16)', (c) => c.notNull())
      .addColumn('attempts', 'integer', (c) => c.notNull())
      .addColumn('next_attempt_at', 'bigint', (c) => c.notNull())
      .addColumn('lease_owner', 'varchar(128)')
      .addColumn('lease_expires_at', 'bigint')
      .addColumn('last_error', 'varchar(255)')
      .addColumn('created_at', 'bigint', (c) => c.notNull())
      .addColumn('expires_at', 'bigint', (c) => c.notNull())
      .addColumn('sent_at', 'bigint')
      .execute();
    await db.schema.createIndex('outbox_due_index').on('outbox').columns(['state', 'next_attempt_at']).execute();
    await db.schema.createIndex('outbox_created_index').on('outbox').column('created_at').execute();
    await db.schema
      .createTable('rate_bucket')
      .addColumn('key', 'varchar(255)', (c) => c.primaryKey())
      .addColumn('units', 'double precision', (c) => c.notNull())
      .addColumn('updated_at', 'bigint', (c) => c.notNull())
      .execute();
  },
  async down(): Promise<void> {
    throw new Error('mailotp migrations are forward-only');
  },
};

import { sql, type Kysely, type Migration } from 'kysely';

/**
 * The outbox's state index holds only the mails still to send, and the (state, created_at) index of
 * migration 0004 goes.
 *
 * Every mail is inserted queued and marked sent a moment later, and each of the two indexes on state
 * moved its entry from the queued range to the sent range at that mark: four index entries written per
 * mail for rows that, once finished, only the retention cleanup ever looks for again. Counted in SQLite's
 * log under 16 concurrent full flows: 27 pages written per flow, 6 of them for these two indexes. With
 * the due index partial (its entry is written at insert and removed at the mark) and the cleanup walking
 * the created_at index (finished mails past retention are nearly all of the oldest rows: a mail still to
 * send expires within minutes), a mail writes two entries where it wrote six. The index of mails still to
 * send also stays as small as the queue, not as large as a week of mail.
 *
 * Failed mails, few but what an operator looks for, get a partial index of their own by age
 * (outbox_failed_index), written only when a mail fails: the admin list of them, and the count of each
 * state, then never walk the sent mail.
 *
 * Queries match a partial index only when they name its states as literals (outbox-states.ts). The
 * states are spelled out here, not taken from there: what a migration did must not change with the code.
 */
export const pendingOutboxIndexMigration: Migration = {
  async up(db: Kysely<unknown>): Promise<void> {
    await db.schema.dropIndex('outbox_finished_index').execute();
    await db.schema.dropIndex('outbox_due_index').execute();
    await db.schema
      .createIndex('outbox_due_index')
      .on('outbox')
      .columns(['state', 'next_attempt_at'])
      .where(sql.ref('state'), 'in', [sql.lit('queued'), sql.lit('deferred')])
      .execute();
    await db.schema.createIndex('outbox_failed_index').on('outbox').column('created_at').where(sql.ref('state'), '=', sql.lit('failed')).execute();
  },
  async down(): Promise<void> {
    throw new Error('mailotp migrations are forward-only');
  },
};

import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { CompiledQuery, sql, type Kysely } from 'kysely';
import { migrateTo, migrateToLatest } from '../../../src/store/migrations/index.js';
import { openDatabase, type OpenDatabase } from '../../../src/store/open-database.js';
import { FAILED, PENDING } from '../../../src/store/outbox-states.js';
import { createOutboxRepository } from '../../../src/store/outbox-repository.js';
import type { Database, OutboxRow } from '../../../src/store/schema.js';
import { createTestDatabase, DATABASES, type TestDatabase } from '../../support/databases.js';

const NOW = 1_800_000_000_000;

function row(id: string, state: string, createdAt: number): OutboxRow {
  return {
    id, transaction_id: `tx-${id}`, token_id: 1, serial: 'PIEM0001', recipient: 'a@example.org', smtp_identifier: '', sealed_content: state === 'sent' || state === 'failed' ? '' : 'sealed',
    message_id: `<${id}@test>`, state, attempts: 1, next_attempt_at: createdAt, lease_owner: null, lease_expires_at: null, last_error: null,
    created_at: createdAt, expires_at: createdAt + 120_000, sent_at: state === 'sent' ? createdAt : null,
  };
}

/** The definitions of the outbox's indexes, by name, as the database itself reports them. */
async function outboxIndexes(db: Kysely<Database>, kind: string): Promise<Map<string, string>> {
  const rows = kind === 'sqlite'
    ? (await sql<{ name: string; definition: string | null }>`select name, sql as definition from sqlite_master where type = 'index' and tbl_name = 'outbox'`.execute(db)).rows
    : (await sql<{ name: string; definition: string }>`select indexname as name, indexdef as definition from pg_indexes where tablename = 'outbox'`.execute(db)).rows;
  return new Map(rows.map((entry) => [entry.name, entry.definition ?? '(primary key)']));
}

async function plan(db: Kysely<Database>, query: CompiledQuery): Promise<string> {
  const result = await db.executeQuery<{ detail: string }>(CompiledQuery.raw(`explain query plan ${query.sql}`, [...query.parameters]));
  return result.rows.map((entry) => entry.detail).join(' | ');
}

for (const kind of DATABASES) {
  describe(`${kind}: the outbox's index of mails still to send (migration 0007)`, () => {
    let database: TestDatabase;
    let opened: OpenDatabase;
    before(async () => {
      database = await createTestDatabase(kind);
      opened = openDatabase(database.url, { maxConnections: 2 });
    });
    after(async () => {
      await opened.close();
      await database.drop();
    });

    it('keeps every mail written before it, and indexes by state only those still to send', async () => {
      const db = opened.db;
      await migrateTo(db, opened.dialect, '0006-delivery-state-trigger');
      assert.ok((await outboxIndexes(db, kind)).has('outbox_finished_index'), 'the index this migration drops exists before it');
      const rows = [row('q', 'queued', NOW), row('d', 'deferred', NOW - 1_000), row('s', 'sent', NOW - 2_000), row('f', 'failed', NOW - 3_000)];
      await db.insertInto('outbox').values(rows as never).execute();

      assert.deepEqual(await migrateToLatest(db, opened.dialect), ['0007-pending-outbox-index']);

      const indexes = await outboxIndexes(db, kind);
      assert.equal(indexes.has('outbox_finished_index'), false, 'the (state, created_at) index is gone');
      assert.ok(indexes.has('outbox_created_index'), 'the cleanup walks created_at');
      assert.match(indexes.get('outbox_due_index') ?? '', /\bwhere\b.*\bstate\b.*'queued'.*'deferred'/i, 'the state index is partial');
      assert.match(indexes.get('outbox_failed_index') ?? '', /\bwhere\b.*\bstate\b.*'failed'/i, 'failed mails have a partial index of their own');
      const kept = await db.selectFrom('outbox').selectAll().orderBy('id').execute();
      assert.deepEqual(kept.map((entry) => [entry.id, entry.state, Number(entry.created_at)]), rows.map((entry) => [entry.id, entry.state, entry.created_at]).sort());

      const outbox = createOutboxRepository(db, opened.dialect);
      assert.deepEqual(await outbox.countPending(), { queued: 1, deferred: 1 });
      assert.deepEqual(await outbox.countByState(), { queued: 1, deferred: 1, sent: 1, failed: 1 });
      assert.deepEqual((await outbox.list({ state: 'failed', limit: 10 })).map((entry) => entry.id), ['f']);
      assert.deepEqual((await outbox.list({ state: 'deferred', limit: 10 })).map((entry) => entry.id), ['d']);
      assert.deepEqual((await outbox.list({ state: 'sent', limit: 10 })).map((entry) => entry.id), ['s']);
      assert.deepEqual((await outbox.claimDue('node-a', NOW, 30_000, 10)).map((entry) => entry.id).sort(), ['d', 'q'], 'due mails are still found');
      assert.equal(await outbox.deleteFinishedBefore(NOW), 2, 'the sent and the failed mail, not those still to send');
      assert.deepEqual((await db.selectFrom('outbox').select('id').orderBy('id').execute()).map((entry) => entry.id), ['d', 'q']);
    });

    it('is what SQLite plans with: due mails and pending counts through the partial index, the cleanup through created_at', { skip: kind !== 'sqlite' && 'SQLite plans' }, async () => {
      const db = opened.db;
      const due = db.selectFrom('outbox').select('id').where('state', 'in', PENDING).where('next_attempt_at', '<=', NOW).orderBy('next_attempt_at').limit(10).compile();
      assert.match(await plan(db, due), /SEARCH outbox USING INDEX outbox_due_index \(state=\? AND next_attempt_at<\?\)/);
      const counts = db.selectFrom('outbox').select(['state', (eb) => eb.fn.countAll().as('count')]).where('state', 'in', PENDING).groupBy('state').compile();
      assert.match(await plan(db, counts), /SEARCH outbox USING COVERING INDEX outbox_due_index \(state=\?\)/);
      // Why PENDING is literals: as bound parameters SQLite cannot tell the query matches the index.
      const bound = db.selectFrom('outbox').select('id').where('state', 'in', ['queued', 'deferred']).where('next_attempt_at', '<=', NOW).compile();
      assert.match(await plan(db, bound), /SCAN outbox/);
      const failed = db.selectFrom('outbox').selectAll().where('state', '=', 'failed').where('state', '=', FAILED).orderBy('created_at', 'desc').limit(50).compile();
      assert.match(await plan(db, failed), /SCAN outbox USING INDEX outbox_failed_index/, 'the admin list of failed mails, newest first, without a sort');
      const cleanup = db.selectFrom('outbox').select('id').where('state', 'in', ['sent', 'failed']).where('created_at', '<', NOW).limit(1000).compile();
      assert.match(await plan(db, cleanup), /SEARCH outbox USING INDEX outbox_created_index \(created_at<\?\)/);
    });
  });
}

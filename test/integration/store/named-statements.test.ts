import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { sql, type Kysely } from 'kysely';
import pg from 'pg';
import { inTransaction } from '../../../src/store/in-transaction.js';
import { openPostgres, type OpenDatabase } from '../../../src/store/open-database.js';
import { createTestDatabase, DATABASES, type TestDatabase } from '../../support/databases.js';

const TABLE_QUERY = 'select * from "probe" where "id" = $1';

async function preparedTexts(db: Kysely<any>): Promise<string[]> {
  const { rows } = await sql<{ statement: string }>`select statement from pg_prepared_statements`.execute(db);
  return rows.map((row) => row.statement);
}

describe('PostgreSQL named statements', { skip: !DATABASES.includes('postgres') && 'PostgreSQL not among MAILOTP_TEST_DATABASES' }, () => {
  let testDb: TestDatabase;
  let admin: pg.Client;

  before(async () => {
    testDb = await createTestDatabase('postgres');
    admin = new pg.Client({ connectionString: testDb.url });
    await admin.connect();
  });
  after(async () => {
    await admin.end();
    await testDb.drop();
  });

  const withDatabase = async (preparedStatements: boolean, work: (db: Kysely<any>) => Promise<void>): Promise<void> => {
    await admin.query('drop table if exists probe; create table probe (id int primary key, name text); insert into probe values (1, \'one\')');
    // One connection, so what the next query sees in pg_prepared_statements is the session that ran the last.
    const database: OpenDatabase = openPostgres(testDb.url, { maxConnections: 1, preparedStatements });
    try {
      await work(database.db as Kysely<any>);
    } finally {
      await database.close();
    }
  };
  const probe = (db: Kysely<any>) => db.selectFrom('probe').selectAll().where('id', '=', 1).execute();

  it('prepares each statement once per connection and keeps it', async () => {
    await withDatabase(true, async (db) => {
      assert.deepEqual(await probe(db), [{ id: 1, name: 'one' }]);
      assert.deepEqual(await probe(db), [{ id: 1, name: 'one' }]);
      const texts = await preparedTexts(db);
      assert.equal(texts.filter((text) => text === TABLE_QUERY).length, 1, JSON.stringify(texts));
    });
  });

  it('prepares nothing when turned off (a pooler in transaction mode)', async () => {
    await withDatabase(false, async (db) => {
      await probe(db);
      assert.deepEqual(await preparedTexts(db), []);
    });
  });

  it('survives a schema change under a running server: a column added to a table read with select *', async () => {
    await withDatabase(true, async (db) => {
      await probe(db);
      await probe(db);
      await admin.query('alter table probe add column note text');
      // Unnamed, this query would just see the new column; named, PostgreSQL refuses the cached plan
      // (0A000) and the statement must be prepared anew.
      assert.deepEqual(await probe(db), [{ id: 1, name: 'one', note: null }]);

      await admin.query('alter table probe add column extra int');
      const inside = await inTransaction(db, async (trx) => {
        const rows = await probe(trx as Kysely<any>);
        await trx.updateTable('probe' as never).set({ name: 'uno' } as never).where('id' as never, '=', 1 as never).execute();
        return rows;
      });
      assert.deepEqual(inside, [{ id: 1, name: 'one', note: null, extra: null }], 'the transaction ran again after the stale plan');
      assert.deepEqual(await probe(db), [{ id: 1, name: 'uno', note: null, extra: null }], 'and its update committed once');
    });
  });
});

import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import SQLite from 'better-sqlite3';
import { CompiledQuery } from 'kysely';
import { openSqlite, type OpenDatabase } from '../../../src/store/open-database.js';
import { createTestDatabase, type TestDatabase } from '../../support/databases.js';

/**
 * The SQLite connection builds result rows itself from better-sqlite3's raw rows (open-database.ts).
 * Each case runs the same SQL through mailotp's Kysely and through a plain better-sqlite3 connection on
 * the same file, whose rows are the reference: the same names, values and types, row for row.
 */
describe('sqlite: rows built from raw rows', () => {
  let file: TestDatabase;
  let open: OpenDatabase;
  let plain: SQLite.Database;

  before(async () => {
    file = await createTestDatabase('sqlite');
    open = openSqlite(file.file!);
    await open.db.executeQuery(CompiledQuery.raw('create table sample (id integer primary key, name text, score real, data blob, note text)'));
    await open.db.executeQuery(CompiledQuery.raw(
      "insert into sample (name, score, data, note) values ('a', 1.5, x'00ff10', null), ('b', -2, null, 'x\"y'), (null, 0, x'', 'it''s')",
    ));
    plain = new SQLite(file.file!, { readonly: true });
  });
  after(async () => {
    plain.close();
    await open.close();
    await file.drop();
  });

  const rowsOf = async (sql: string, parameters: unknown[] = []): Promise<unknown[]> =>
    (await open.db.executeQuery(CompiledQuery.raw(sql, parameters))).rows;

  for (const [title, sql, parameters] of [
    ['every column of every row, nulls and blobs included', 'select * from sample order by id', []],
    ['aliases with quotes and spaces, and parameters', 'select id as "row id", name as "it\'s", score * ? as "a""b" from sample where id >= ? order by id', [2, 1]],
    ['a name given twice keeps the last value', 'select id as same, name as same, score from sample order by id', []],
    ['no rows', 'select * from sample where id < 0', []],
    ['expressions and aggregates', 'select count(*) as n, max(score) as top, group_concat(name) from sample', []],
  ] as const) {
    it(`gives the rows better-sqlite3 gives: ${title}`, async () => {
      const expected = plain.prepare(sql).all(...parameters);
      const actual = await rowsOf(sql, [...parameters]);
      assert.deepEqual(actual, expected);
      // Same keys in the same order, so JSON (what the HTTP layer renders) is the same too.
      assert.deepEqual(actual.map((row) => Object.keys(row as object)), expected.map((row) => Object.keys(row as object)));
    });
  }

  it('returns the rows of an INSERT ... RETURNING and still writes', async () => {
    const rows = await rowsOf("insert into sample (name, score) values ('d', 4) returning id, name, score");
    assert.deepEqual(rows, [{ id: 4, name: 'd', score: 4 }]);
    assert.deepEqual(plain.prepare('select name from sample where id = 4').get(), { name: 'd' });
  });

  it('streams rows through Kysely the same way', async () => {
    const streamed: unknown[] = [];
    for await (const row of open.db.selectFrom('sample' as never).selectAll().orderBy('id' as never).stream()) streamed.push(row);
    assert.deepEqual(streamed, plain.prepare('select * from sample order by id').all());
  });

  it('follows a change of the columns under a cached statement, as when another node migrates the schema', async () => {
    await open.db.executeQuery(CompiledQuery.raw('create table shifting (id integer primary key, a text, b text)'));
    await open.db.executeQuery(CompiledQuery.raw("insert into shifting values (1, 'a', 'b')"));
    const sql = 'select * from shifting where id = ?';
    assert.deepEqual(await rowsOf(sql, [1]), [{ id: 1, a: 'a', b: 'b' }]);
    const other = new SQLite(file.file!);
    try {
      other.exec("alter table shifting add column c text default 'c'");
      assert.deepEqual(await rowsOf(sql, [1]), [{ id: 1, a: 'a', b: 'b', c: 'c' }]);
      other.exec('alter table shifting drop column a');
    } finally {
      other.close();
    }
    assert.deepEqual(await rowsOf(sql, [1]), [{ id: 1, b: 'b', c: 'c' }]);
    assert.deepEqual(await rowsOf(sql, [1]), plain.prepare(sql).all(1));
  });

  it('keeps writes without rows as they were: changes and the inserted row id', async () => {
    const result = await open.db.executeQuery(CompiledQuery.raw("update sample set note = 'n' where score > ?", [0]));
    assert.equal(result.numAffectedRows, 2n);
    const insert = await open.db.executeQuery(CompiledQuery.raw("insert into sample (name) values ('e')"));
    assert.equal(insert.insertId, 5n);
  });
});

import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { prepareQuery } from '../../../src/store/prepared-query.js';
import { DATABASES } from '../../support/databases.js';
import { startTestApp, type TestApp } from '../../support/test-app.js';

for (const database of DATABASES) {
  describe(`${database}: prepared queries`, () => {
    let t: TestApp;
    before(async () => {
      t = await startTestApp({ database, smtp: false });
    });
    after(async () => t.close());

    it('builds once, then runs with the arguments of each call, a repeated one included', async () => {
      const db = t.composed.database.db;
      let builds = 0;
      const settingsBetween = prepareQuery((kysely, low: string, high: string) => {
        builds += 1;
        return kysely.selectFrom('setting').select('key').where('key', '>=', low).where('key', '<=', high).where('key', '!=', high).orderBy('key');
      });
      await db.insertInto('setting').values([
        { key: 'pq.a', value: '1', updated_at: 0 }, { key: 'pq.b', value: '2', updated_at: 0 }, { key: 'pq.c', value: '3', updated_at: 0 },
      ]).execute();
      assert.deepEqual((await settingsBetween(db, 'pq.a', 'pq.c')).rows.map((row) => row.key), ['pq.a', 'pq.b']);
      assert.deepEqual((await settingsBetween(db, 'pq.b', 'pq.z')).rows.map((row) => row.key), ['pq.b', 'pq.c']);
      assert.equal(builds, 1);
    });

    it('compiles one form per number of arguments, for IN lists built from rest arguments', async () => {
      const db = t.composed.database.db;
      let builds = 0;
      const settingsIn = prepareQuery((kysely, ...keys: string[]) => {
        builds += 1;
        return kysely.selectFrom('setting').select('key').where('key', 'in', keys).orderBy('key');
      });
      await db.insertInto('setting').values([{ key: 'in.a', value: '1', updated_at: 0 }, { key: 'in.b', value: '2', updated_at: 0 }, { key: 'in.c', value: '3', updated_at: 0 }]).execute();
      assert.deepEqual((await settingsIn(db, 'in.a')).rows.map((row) => row.key), ['in.a']);
      assert.deepEqual((await settingsIn(db, 'in.c', 'in.a', 'in.x')).rows.map((row) => row.key), ['in.a', 'in.c']);
      assert.deepEqual((await settingsIn(db, 'in.b')).rows.map((row) => row.key), ['in.b']);
      assert.deepEqual((await settingsIn(db, 'in.b', 'in.c', 'in.z')).rows.map((row) => row.key), ['in.b', 'in.c']);
      assert.equal(builds, 2);
    });

    it('runs on the transaction it is given: rolled-back writes are gone', async () => {
      const db = t.composed.database.db;
      const insertSetting = prepareQuery((kysely, key: string) => kysely.insertInto('setting').values({ key, value: 'x', updated_at: 0 }));
      await assert.rejects(db.transaction().execute(async (trx) => {
        await insertSetting(trx, 'pq.rolled-back');
        assert.ok(await trx.selectFrom('setting').select('key').where('key', '=', 'pq.rolled-back').executeTakeFirst(), 'visible inside');
        throw new Error('roll back');
      }), /roll back/);
      assert.equal(await db.selectFrom('setting').select('key').where('key', '=', 'pq.rolled-back').executeTakeFirst(), undefined);
      await insertSetting(db, 'pq.kept');
      assert.ok(await db.selectFrom('setting').select('key').where('key', '=', 'pq.kept').executeTakeFirst());
    });
  });
}

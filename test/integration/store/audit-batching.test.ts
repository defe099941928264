import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { sql } from 'kysely';
import type { AuditEvent } from '../../../src/core/audit-event.js';
import { createAuditRepository } from '../../../src/store/audit-repository.js';
import { DATABASES } from '../../support/databases.js';
import { statementCounter } from '../../support/statement-counter.js';
import { startTestApp, type TestApp } from '../../support/test-app.js';

function event(info: string): AuditEvent {
  return { at: 1_700_000_000_000, action: 'validate/check', isSuccess: true, serial: 'PIEM0001', username: 'alice', realm: 'example', clientIp: '192.0.2.1', info };
}

for (const database of DATABASES) {
  describe(`${database}: audit rows written together`, () => {
    let t: TestApp;
    before(async () => {
      t = await startTestApp({ database, smtp: false });
    });
    after(async () => t.close());

    const rowsWith = async (prefix: string) =>
      (await t.composed.database.db.selectFrom('audit_event').select(['id', 'info']).where('info', 'like', `${prefix}%`).orderBy('id').execute()).map((row) => row.info);

    it('writes the rows of concurrent requests in a few statements, in the order they came, each caller released once stored', async () => {
      const counter = statementCounter();
      const audit = createAuditRepository(t.composed.database.db.withPlugin(counter.plugin));
      const infos = Array.from({ length: 40 }, (_, index) => `batch-${String(index).padStart(2, '0')}`);
      const stored = await Promise.all(infos.map(async (info) => {
        await audit.insert(event(info));
        return (await rowsWith(info)).length; // the caller's own row is there when its promise settles
      }));
      assert.deepEqual(stored, infos.map(() => 1));
      assert.deepEqual(await rowsWith('batch-'), infos, 'every row once, in arrival order');
      assert.ok(counter.count() <= 4, `40 rows in ${counter.count()} insert statements (16+16+4+4 expected), not one each`);

      const alone = statementCounter();
      await createAuditRepository(t.composed.database.db.withPlugin(alone.plugin)).insert(event('alone'));
      assert.deepEqual(await rowsWith('alone'), ['alone']);
      assert.equal(alone.count(), 1);
    });

    it('fails every caller of a batch that cannot be written, stores none of it, and writes the next batch', async () => {
      const db = t.composed.database.db;
      const audit = createAuditRepository(db);
      await sql`alter table audit_event rename to audit_event_away`.execute(db);
      const outcomes = await Promise.allSettled(Array.from({ length: 6 }, (_, index) => audit.insert(event(`lost-${index}`))));
      await sql`alter table audit_event_away rename to audit_event`.execute(db);
      assert.deepEqual(outcomes.map((outcome) => outcome.status), Array(6).fill('rejected'));
      assert.deepEqual(await rowsWith('lost-'), []);
      await Promise.all([audit.insert(event('after-1')), audit.insert(event('after-2'))]);
      assert.deepEqual(await rowsWith('after-'), ['after-1', 'after-2']);
    });

    it('writes a row of a transaction in that transaction: it rolls back with it', async () => {
      await assert.rejects(
        t.composed.deps.store.transaction(async (store) => {
          // The store's batcher writes outside any transaction: this row must not go through it.
          await store.audit.insert(event('rolled-back'));
          throw new Error('abort');
        }),
        /abort/,
      );
      assert.deepEqual(await rowsWith('rolled-back'), []);
    });
  });
}

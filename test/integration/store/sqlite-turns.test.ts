import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { sql } from 'kysely';
import { openSqlite } from '../../../src/store/open-database.js';
import { countTurns } from '../../support/turn-counter.js';

describe('SQLite statements and the event loop', () => {
  it('runs queued statements across turns of the event loop, not all in the turn that queued them', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'mailotp-turns-'));
    const database = openSqlite(join(dir, 'turns.db'));
    try {
      const db = database.db;
      await db.schema.createTable('t').addColumn('id', 'integer', (column) => column.primaryKey()).execute();
      await db.transaction().execute(async (trx) => {
        for (let id = 1; id <= 3; id += 1) await trx.insertInto('t' as never).values({ id } as never).execute();
      });
      // A callback queued for the next turn (as a timer, a new connection or a health check would be), then
      // 50 requests' statements: each must wait its turn too, so the callback runs before they all finish.
      let finished = 0;
      const seenByNextTurn = new Promise<number>((resolve) => setImmediate(() => resolve(finished)));
      const queries = Array.from({ length: 50 }, () => db.selectFrom('t' as never).selectAll().execute().then((rows) => {
        finished += 1;
        return rows.length;
      }));
      assert.ok((await seenByNextTurn) < 50, 'every statement ran in the turn that queued it');
      assert.deepEqual(new Set(await Promise.all(queries)), new Set([3]));
      // A transaction still runs as one unit: its statements never interleave with others'.
      const order: string[] = [];
      await Promise.all([
        db.transaction().execute(async (trx) => {
          order.push('tx-begin');
          await trx.updateTable('t' as never).set({ id: 10 } as never).where('id' as never, '=', 1 as never).execute();
          order.push('tx-update');
          await trx.selectFrom('t' as never).selectAll().execute();
          order.push('tx-end');
        }),
        db.selectFrom('t' as never).selectAll().execute().then((rows) => order.push(`outside:${rows.length}`)),
      ]);
      assert.deepEqual(order.filter((step) => step.startsWith('tx')), ['tx-begin', 'tx-update', 'tx-end']);
      const outside = order.findIndex((step) => step.startsWith('outside'));
      assert.ok(outside === 0 || outside === 3, `a statement ran inside another's transaction: ${order.join(', ')}`);
    } finally {
      await database.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('puts statements off to a later turn once a turn has run a few milliseconds of them', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'mailotp-turns-'));
    const database = openSqlite(join(dir, 'turns.db'));
    try {
      const db = database.db;
      // Tens of milliseconds of SQLite's own work per statement here, far more than a turn's budget.
      const slow = sql<{ n: number }>`with recursive c(x) as (select 1 union all select x + 1 from c where x < ${50_000}) select count(*) as n from c`;
      const turns = countTurns();
      const finishedIn: number[] = [];
      await Promise.all(Array.from({ length: 10 }, () => slow.execute(db).then((result) => {
        assert.equal(result.rows[0]!.n, 50_000);
        finishedIn.push(turns.current());
      })));
      turns.stop();
      // Without a budget all ten ran in the check phase that took them up, with no timer or I/O between.
      assert.ok(new Set(finishedIn).size >= 5, `ten slow statements finished in turns ${finishedIn.join(', ')}`);
    } finally {
      await database.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

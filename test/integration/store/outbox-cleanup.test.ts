import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { sql } from 'kysely';
import { createOutboxRepository } from '../../../src/store/outbox-repository.js';
import type { OutboxRow } from '../../../src/store/schema.js';
import { DATABASES } from '../../support/databases.js';
import { enrolUser, startTestApp, type TestApp } from '../../support/test-app.js';


function row(id: string, state: string, createdAt: number): OutboxRow {
  return {
    id, transaction_id: `tx-${id}`, token_id: 1, serial: 'PIEM0001', recipient: 'a@example.org', smtp_identifier: '', sealed_content: '',
    message_id: `<${id}@test>`, state, attempts: 1, next_attempt_at: createdAt, lease_owner: null, lease_expires_at: null, last_error: null,
    created_at: createdAt, expires_at: createdAt + 120_000, sent_at: state === 'sent' ? createdAt : null,
  };
}

for (const database of DATABASES) {
  describe(`${database}: outbox retention cleanup`, () => {
    let t: TestApp;
    before(async () => {
      t = await startTestApp({ database, smtp: false });
    });
    after(async () => t.close());

    it('deletes finished mails past retention across several batches, and nothing else', async () => {
      const db = t.composed.database.db;
      // Within the running worker's own 7-day retention, so only this call deletes them.
      const CUTOFF = t.clock.nowMilliseconds() - 3_600_000;
      const rows: OutboxRow[] = [];
      for (let index = 0; index < 2_345; index += 1) rows.push(row(`old-${index}`, index % 5 === 0 ? 'failed' : 'sent', CUTOFF - 1 - index));
      for (let index = 0; index < 30; index += 1) rows.push(row(`new-${index}`, 'sent', CUTOFF + index));
      // Old but still to send (next attempt later, so the running worker leaves them alone too).
      for (const id of ['old-queued', 'old-deferred']) rows.push({ ...row(id, id.slice(4), CUTOFF - 5), next_attempt_at: CUTOFF + 7_200_000, expires_at: CUTOFF + 7_200_000 });
      for (let start = 0; start < rows.length; start += 500) await db.insertInto('outbox').values(rows.slice(start, start + 500) as never).execute();

      const deleted = await createOutboxRepository(db, t.composed.database.dialect).deleteFinishedBefore(CUTOFF, 1000);
      assert.equal(deleted, 2_345, 'three batches: 1,000 + 1,000 + 345');
      const left = await db.selectFrom('outbox').select(['id']).orderBy('id').execute();
      assert.deepEqual(left.map((entry) => entry.id).filter((id) => id.startsWith('old')), ['old-deferred', 'old-queued'], 'mails still to send stay, however old');
      assert.equal(left.filter((entry) => entry.id.startsWith('new')).length, 30, 'finished mails within retention stay');
    });

    it('counts the mails still to send apart from the retained finished ones, through an index on state', async () => {
      const db = t.composed.database.db;
      const outbox = createOutboxRepository(db, t.composed.database.dialect);
      const before = await outbox.countByState();
      const at = t.clock.nowMilliseconds() + 86_400_000; // not due, so the running worker leaves them alone
      const rows = [
        ...Array.from({ length: 3 }, (_, index) => ({ ...row(`count-q-${index}`, 'queued', at), next_attempt_at: at })),
        ...Array.from({ length: 2 }, (_, index) => ({ ...row(`count-d-${index}`, 'deferred', at), next_attempt_at: at })),
        ...Array.from({ length: 7 }, (_, index) => row(`count-s-${index}`, 'sent', at)),
      ];
      await db.insertInto('outbox').values(rows as never).execute();
      assert.deepEqual(await outbox.countPending(), { queued: before.queued + 3, deferred: before.deferred + 2 });
      const after = await outbox.countByState();
      assert.equal(after.sent, before.sent + 7, 'the full count still sees every row');
      await db.deleteFrom('outbox').where('id', 'like', 'count-%').execute();
      if (database === 'sqlite') {
        const plan = await sql<{ detail: string }>`explain query plan select state, count(*) from outbox where state in ('queued', 'deferred') group by state`.execute(db);
        assert.match(plan.rows.map((entry) => entry.detail).join(' | '), /SEARCH outbox USING COVERING INDEX outbox_due_index \(state=\?\)/);
      }
    });

    it('finds what to delete oldest first through the created_at index, not by walking every finished row', { skip: database !== 'sqlite' && 'SQLite plan' }, async () => {
      const plan = await sql<{ detail: string }>`explain query plan select id from outbox where state in ('sent', 'failed') and created_at < ${t.clock.nowMilliseconds()} limit 1000`.execute(t.composed.database.db);
      assert.match(plan.rows.map((entry) => entry.detail).join(' | '), /SEARCH outbox USING INDEX outbox_created_index \(created_at<\?\)/);
    });
  });
}

for (const database of DATABASES) {
  describe(`${database}: challenge cleanup`, () => {
    let t: TestApp;
    before(async () => {
      t = await startTestApp({ database, smtp: false });
    });
    after(async () => t.close());

    it('deletes challenges expired before the cutoff across several batches, and no others', async () => {
      const db = t.composed.database.db;
      const serial = await enrolUser(t, { login: 'cleaner', email: 'cleaner@example.org', pin: '1234' });
      const token = (await db.selectFrom('token').select('id').where('serial', '=', serial).executeTakeFirstOrThrow()).id;
      const cutoff = t.clock.nowMilliseconds() - 3_600_000;
      const challenge = (id: string, expiresAt: number) => ({ id, transaction_id: `tx-${id}`, token_id: token, otp_hash: 'x', created_at: expiresAt - 120_000, expires_at: expiresAt, used_at: null, wrong_count: 0, max_wrong_count: 3, delivery_state: 'sent' });
      const rows = [...Array.from({ length: 2_100 }, (_, index) => challenge(`gone-${index}`, cutoff - 1 - index)), ...Array.from({ length: 20 }, (_, index) => challenge(`kept-${index}`, cutoff + index))];
      for (let start = 0; start < rows.length; start += 500) await db.insertInto('challenge').values(rows.slice(start, start + 500) as never).execute();
      assert.equal(await t.composed.deps.store.challenges.deleteExpired(cutoff, 1000), 2_100);
      const left = await db.selectFrom('challenge').select('id').where('token_id', '=', token).execute();
      assert.deepEqual(left.map((entry) => entry.id).sort(), Array.from({ length: 20 }, (_, index) => `kept-${index}`).sort());
    });

    it('finds expired challenges through the expiry index', { skip: database !== 'sqlite' && 'SQLite plan' }, async () => {
      const plan = await sql<{ detail: string }>`explain query plan select id from challenge where expires_at < ${t.clock.nowMilliseconds()} limit 1000`.execute(t.composed.database.db);
      assert.match(plan.rows.map((entry) => entry.detail).join(' | '), /challenge_expiry_index \(expires_at<\?\)/);
    });
  });
}

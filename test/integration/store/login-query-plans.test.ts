import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { sql } from 'kysely';
import { createKyselyStore } from '../../../src/store/kysely-store.js';
import { QUEUE_IN_ONE_STATEMENT } from '../../../src/store/queue-statement.js';
import { createBuckets } from '../../../src/store/rate-buckets.js';
import { loginReadsQuery, userWithTokensQuery } from '../../../src/store/user-repository.js';
import { DATABASES } from '../../support/databases.js';
import { startTestApp, type TestApp } from '../../support/test-app.js';

interface PlanNode {
  'Node Type': string;
  'Relation Name'?: string;
  'Index Name'?: string;
  'Index Cond'?: string;
  Plans?: PlanNode[];
}

function nodesOf(node: PlanNode): PlanNode[] {
  return [node, ...(node.Plans ?? []).flatMap(nodesOf)];
}

/**
 * The statements every login runs reach their rows through an index whatever the planner knows. On tables
 * without statistics (a fresh or freshly imported database before autovacuum's first ANALYZE, or a server
 * with autovacuum off, as on the benchmark machine) PostgreSQL once read every token of the resolver per
 * login and scanned every rate bucket twice per mailed code.
 */
for (const database of DATABASES) {
  describe(`${database}: the login path's query plans`, () => {
    let t: TestApp;
    const USERS = 300;

    before(async () => {
      t = await startTestApp({ database, smtp: false });
      const { db } = t.composed.database;
      // Keep the tables as a fresh deployment has them: no statistics until this test ends.
      if (database === 'postgres') {
        for (const table of ['token', 'rate_bucket']) await sql`alter table ${sql.table(table)} set (autovacuum_enabled = false, toast.autovacuum_enabled = false)`.execute(db);
        await createBuckets(db, ...Array.from({ length: USERS }, (_, index) => [`send:user:local:${index}`, 5, 0]).flat());
      }
      const store = createKyselyStore(db, t.composed.database.dialect, () => t.clock.nowMilliseconds());
      for (let index = 0; index < USERS; index += 1) {
        const user = await store.users.insert({ resolver: 'local', login: `user${index}`, email: `user${index}@example.test`, givenname: '', surname: '', phone: '', mobile: '' });
        await store.tokens.insert({
          serial: `PLAN${index}`, tokenType: 'email', description: '', isActive: true, isRevoked: false, isLocked: false, failCount: 0, maxFailCount: 10,
          otpLength: 6, pinHash: null, owner: { resolver: 'local', userId: user.id, realm: 'default' }, info: {}, createdAt: t.clock.nowMilliseconds(),
        });
      }
    });
    after(async () => t.close());

    /** PostgreSQL's plans of a statement, generic and custom, with these literal arguments. */
    async function plansOf(text: string, literalArguments: string): Promise<Record<string, PlanNode[]>> {
      return t.composed.database.db.connection().execute(async (connection) => {
        await sql.raw(`prepare plan_under_test as ${text}`).execute(connection);
        try {
          const plans: Record<string, PlanNode[]> = {};
          for (const mode of ['force_generic_plan', 'force_custom_plan']) {
            await sql.raw(`set plan_cache_mode = ${mode}`).execute(connection);
            const result = await sql.raw<{ 'QUERY PLAN': Array<{ Plan: PlanNode }> }>(`explain (format json) execute plan_under_test(${literalArguments})`).execute(connection);
            plans[mode] = nodesOf(result.rows[0]!['QUERY PLAN'][0]!.Plan);
          }
          return plans;
        } finally {
          await sql.raw('reset plan_cache_mode').execute(connection);
          await sql.raw('deallocate plan_under_test').execute(connection);
        }
      });
    }

    async function hasStatistics(table: string): Promise<boolean> {
      const { rows } = await sql<{ analyzed: boolean }>`select last_analyze is not null or last_autoanalyze is not null as analyzed from pg_stat_user_tables where relname = ${table}`.execute(t.composed.database.db);
      return rows[0]!.analyzed;
    }

    it('reads a user\'s tokens through the token index by resolver and user id, without statistics too', async () => {
      const { db } = t.composed.database;
      const compiled = userWithTokensQuery(db, t.composed.database.dialect, 'local', 'user7').compile();
      if (database === 'sqlite') {
        const details = (await db.executeQuery<{ detail: string }>({ ...compiled, sql: `explain query plan ${compiled.sql}` })).rows.map((row) => row.detail);
        assert.match(details.join(' | '), /SEARCH token USING INDEX token_owner_index \(user_resolver=\? AND user_id=\?\)/);
        return;
      }
      const planned = await plansOf(compiled.sql, `'local', 'user7'`);
      assert.equal(await hasStatistics('token'), false, 'token has no statistics yet');
      for (const [mode, nodes] of Object.entries(planned)) {
        const tokenScans = nodes.filter((node) => node['Relation Name'] === 'token');
        assert.equal(tokenScans.length, 1, mode);
        assert.equal(tokenScans[0]!['Index Name'], 'token_owner_index', mode);
        assert.match(tokenScans[0]!['Index Cond'] ?? '', /user_resolver.*user_id/, `${mode}: ${tokenScans[0]!['Index Cond']}`);
      }
    });

    it('charges and locks each send bucket through its key, without statistics too', { skip: database !== 'postgres' && 'one statement on PostgreSQL only' }, async () => {
      // One bucket, no challenge and no audit line: the statement's plan does not depend on the array lengths.
      const noRows = Array.from({ length: 29 }, () => `'{}'`).join(', ');
      const planned = await plansOf(QUEUE_IN_ONE_STATEMENT, `0, '{send:global}', '{5}', '{0.1}', '{1}', ${noRows}`);
      assert.equal(await hasStatistics('rate_bucket'), false, 'rate_bucket has no statistics yet');
      for (const [mode, nodes] of Object.entries(planned)) {
        const bucketScans = nodes.filter((node) => node['Relation Name'] === 'rate_bucket' && node['Node Type'] !== 'ModifyTable');
        assert.ok(bucketScans.length > 0, mode);
        assert.deepEqual(bucketScans.map((node) => node['Node Type']).filter((type) => type !== 'Index Scan'), [], `${mode}: every bucket read is an index scan`);
      }
    });

    it('reads a login\'s challenges through the transaction index, or the token index when open ones are asked for', async () => {
      const { db, dialect } = t.composed.database;
      const expected = { transaction: 'challenge_transaction_index', open: 'challenge_token_index' } as const;
      for (const target of ['transaction', 'open'] as const) {
        const compiled = loginReadsQuery(db, dialect, target, 'local', 'user7', 'fail:client:192.0.2.1', target === 'transaction' ? '12345678901234567890' : 1_000_000).compile();
        if (database === 'sqlite') {
          const details = (await db.executeQuery<{ detail: string }>({ ...compiled, sql: `explain query plan ${compiled.sql}` })).rows.map((row) => row.detail).join(' | ');
          assert.match(details, new RegExp(`SEARCH ch USING INDEX ${expected[target]} \\(`), `${target}: ${details}`);
          assert.match(details, /SEARCH token USING INDEX token_owner_index/, `${target}: ${details}`);
          continue;
        }
        const literals = compiled.parameters.map((value) => (typeof value === 'string' ? `'${value}'` : String(value))).join(', ');
        for (const [mode, nodes] of Object.entries(await plansOf(compiled.sql, literals))) {
          const challengeScans = nodes.filter((node) => node['Relation Name'] === 'challenge');
          assert.equal(challengeScans.length, 1, `${target}, ${mode}`);
          assert.equal(challengeScans[0]!['Index Name'], expected[target], `${target}, ${mode}: ${challengeScans[0]!['Node Type']}`);
        }
      }
    });

    it('still answers with the user and only their tokens', async () => {
      const store = createKyselyStore(t.composed.database.db, t.composed.database.dialect, () => t.clock.nowMilliseconds());
      const found = await store.users.findByLoginWithTokens('local', 'user7');
      assert.equal(found?.user.login, 'user7');
      assert.deepEqual(found?.tokens.map((token) => token.serial), ['PLAN7']);
    });
  });
}

import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { AuditEvent } from '../../../src/core/audit-event.js';
import type { NewChallenge } from '../../../src/core/challenges/challenge.js';
import type { NewOutboxEntry } from '../../../src/core/delivery/outbox-entry.js';
import type { BucketRequest, Store } from '../../../src/core/ports.js';
import type { Token } from '../../../src/core/tokens/token.js';
import { hasUnitAt } from '../../../src/core/limits/bucket.js';
import { createKyselyStore } from '../../../src/store/kysely-store.js';
import { DATABASES } from '../../support/databases.js';
import { statementCounter } from '../../support/statement-counter.js';
import { startTestApp, type TestApp } from '../../support/test-app.js';

/**
 * The store calls of every login: what they decide and write, on both databases, and on PostgreSQL the
 * number of statements (each a round trip, and every trigger holding the global send bucket's lock for all
 * of them).
 */
for (const database of DATABASES) {
  describe(`${database}: the login path's store calls`, () => {
    let t: TestApp;
    let store: Store;
    const counter = statementCounter();
    let serialCount = 0;
    const onPostgres = (statements: number, what: string): void => {
      if (database === 'postgres') assert.equal(counter.count(), statements, `${what}: ${counter.count()} statements`);
    };

    before(async () => {
      t = await startTestApp({ database, smtp: false });
      const db = t.composed.database;
      store = createKyselyStore(db.db.withPlugin(counter.plugin), db.dialect, () => t.clock.nowMilliseconds());
    });
    after(async () => t.close());

    const now = (): number => t.clock.nowMilliseconds();

    async function tokenOf(login: string, changes: Partial<Token> = {}): Promise<Token> {
      const user = (await store.users.findByLogin('local', login)) ?? (await store.users.insert({ resolver: 'local', login, email: `${login}@example.test`, givenname: '', surname: '', phone: '', mobile: '' }));
      serialCount += 1;
      return store.tokens.insert({
        serial: `RT${database}${serialCount}`, tokenType: 'email', description: '', isActive: true, isRevoked: false, isLocked: false, failCount: 0, maxFailCount: 10,
        otpLength: 6, pinHash: null, owner: { resolver: 'local', userId: user.id, realm: 'default' }, info: {}, createdAt: now(), ...changes,
      });
    }

    function challengeFor(token: Token, id: string): { challenge: NewChallenge; mail: NewOutboxEntry } {
      const at = now();
      return {
        challenge: { id, transactionId: `tx-${id}`, tokenId: token.id, otpHash: `hash-${id}`, createdAt: at, expiresAt: at + 300_000, maxWrongCount: 3, deliveryState: 'queued' },
        mail: {
          id, transactionId: `tx-${id}`, tokenId: token.id, serial: token.serial, recipient: 'a@example.test', smtpIdentifier: '', sealedContent: 'sealed',
          messageId: `<${id}@test>`, nextAttemptAt: at, leaseOwner: null, leaseExpiresAt: null, createdAt: at, expiresAt: at + 300_000,
        },
      };
    }

    async function queue(token: Token, id: string, buckets: readonly BucketRequest[]) {
      const { challenge, mail } = challengeFor(token, id);
      counter.reset();
      return store.queueChallenges({ buckets, challenges: [challenge], mails: [mail] }, now());
    }

    const rowsOf = async (id: string) => ({
      challenges: (await t.composed.database.db.selectFrom('challenge').select('id').where('id', '=', id).execute()).length,
      mails: (await t.composed.database.db.selectFrom('outbox').select('id').where('id', '=', id).execute()).length,
    });

    it('queues a challenge and its mail and charges every send bucket, or on one refusal writes and charges nothing', async () => {
      const token = await tokenOf('queue');
      const bucket = (key: string, capacity: number): BucketRequest => ({ key: `queue:${database}:${key}`, capacity, windowMilliseconds: 60_000 });
      const roomy = bucket('roomy', 10);
      const tight = bucket('tight', 1);

      assert.deepEqual(await queue(token, `q1-${database}`, [roomy, tight]), { isAllowed: true, retryAfterSeconds: 0 });
      onPostgres(3, 'new buckets: the statement, their creation, the statement again');
      assert.deepEqual(await rowsOf(`q1-${database}`), { challenges: 1, mails: 1 });

      assert.deepEqual(await queue(token, `q2-${database}`, [roomy, tight]), { isAllowed: false, retryAfterSeconds: 60 });
      onPostgres(1, 'a refusal');
      assert.deepEqual(await rowsOf(`q2-${database}`), { challenges: 0, mails: 0 }, 'a refusal leaves nothing behind');

      assert.deepEqual(await queue(token, `q3-${database}`, [roomy]), { isAllowed: true, retryAfterSeconds: 0 });
      onPostgres(1, 'buckets that exist');
      // roomy paid for q1 and q3 only: 8 of 10 left, so 8 more fit, and q2's refusal spent nothing.
      let more = 0;
      while ((await queue(token, `r${more}-${database}`, [roomy])).isAllowed) more += 1;
      assert.equal(more, 8);

      assert.deepEqual(await queue(token, `q4-${database}`, []), { isAllowed: true, retryAfterSeconds: 0 }, 'no bucket applies');
      assert.deepEqual(await rowsOf(`q4-${database}`), { challenges: 1, mails: 1 });
    });

    it('stores a trigger\'s audit line with its challenge, in the same statement on PostgreSQL; none when a limit refuses', async () => {
      const token = await tokenOf('triggered');
      const line: AuditEvent = {
        at: now(), action: 'validate/check', isSuccess: false, serial: token.serial, username: 'triggered', realm: 'default', clientIp: '192.0.2.5', info: 'challenge_triggered',
      };
      const linesOfToken = async (): Promise<AuditEvent[]> => (await store.audit.list(10_000)).filter((stored) => stored.serial === token.serial);
      const once: BucketRequest = { key: `queue:${database}:audited-once`, capacity: 1, windowMilliseconds: 60_000 };
      const queueWithLine = (id: string) => {
        const { challenge, mail } = challengeFor(token, id);
        counter.reset();
        return store.queueChallenges({ buckets: [once], challenges: [challenge], mails: [mail], audit: line }, now());
      };
      await store.queueChallenges({ buckets: [once], challenges: [], mails: [] }, now() - 60_000); // the bucket exists, full
      assert.equal((await queueWithLine(`trig1-${database}`)).isAllowed, true);
      onPostgres(1, 'challenge, mail and audit line');
      assert.deepEqual(await linesOfToken(), [line]);
      assert.deepEqual(await rowsOf(`trig1-${database}`), { challenges: 1, mails: 1 });

      assert.equal((await queueWithLine(`trig2-${database}`)).isAllowed, false);
      assert.deepEqual(await linesOfToken(), [line], 'a refused trigger stores no line');
      assert.deepEqual(await rowsOf(`trig2-${database}`), { challenges: 0, mails: 0 });
    });

    it('carries any text through the statement intact: quotes, commas, braces, backslashes, NULL', async () => {
      const token = await tokenOf('odd');
      const odd = '"a,b{c}\\d" NULL \'e\'@example.test';
      const { challenge, mail } = challengeFor(token, `odd-${database}`);
      const key = `send:address:${odd}`;
      const verdict = await store.queueChallenges({ buckets: [{ key, capacity: 2, windowMilliseconds: 60_000 }], challenges: [challenge], mails: [{ ...mail, recipient: odd, sealedContent: odd }] }, now());
      assert.equal(verdict.isAllowed, true);
      const row = await t.composed.database.db.selectFrom('outbox').select(['recipient', 'sealed_content']).where('id', '=', mail.id).executeTakeFirstOrThrow();
      assert.deepEqual(row, { recipient: odd, sealed_content: odd });
      const bucket = await t.composed.database.db.selectFrom('rate_bucket').select('units').where('key', '=', key).executeTakeFirstOrThrow();
      assert.equal(Number(bucket.units), 1, 'the bucket of that very key was charged');
    });

    it('lets parallel triggers over one shared bucket queue exactly as many mails as it holds', async () => {
      const token = await tokenOf('parallel');
      const shared: BucketRequest = { key: `queue:${database}:shared`, capacity: 7, windowMilliseconds: 3_600_000 };
      const ids = Array.from({ length: 20 }, (_, index) => `p${index}-${database}`);
      const verdicts = await Promise.all(ids.map((id) => queue(token, id, [shared, { key: `queue:${database}:own:${id}`, capacity: 5, windowMilliseconds: 60_000 }])));
      assert.equal(verdicts.filter((verdict) => verdict.isAllowed).length, 7);
      const stored = await Promise.all(ids.map(rowsOf));
      assert.deepEqual(stored.map((rows, index) => rows.challenges === 1 && rows.mails === 1), verdicts.map((verdict) => verdict.isAllowed));
    });

    it('takes a unit of a failure bucket in one statement, creating the bucket on first use', async () => {
      const key = `fail:${database}:one`;
      for (const what of ['a new bucket', 'a stored one']) {
        counter.reset();
        assert.deepEqual(await store.rateLimits.take(key, 2, 60_000, now()), { isAllowed: true, retryAfterSeconds: 0 }, what);
        assert.equal(counter.count(), 1, `${what}: ${counter.count()} statements`);
      }
      assert.deepEqual(await store.rateLimits.take(key, 2, 60_000, now()), { isAllowed: false, retryAfterSeconds: 30 }, 'empty: a unit refills in 30 s');
      assert.deepEqual(await store.rateLimits.hasUnit(key, 2, 60_000, now() + 30_000), { isAllowed: true, retryAfterSeconds: 0 });
    });

    it('redeems a challenge once: marks it used and records the success, both or neither', async () => {
      const token = await tokenOf('redeem', { failCount: 2 });
      const id = `redeem-${database}`;
      await queue(token, id, []);
      const used = await Promise.all(Array.from({ length: 5 }, async () => {
        counter.reset();
        return store.challenges.redeem(id, now());
      }));
      assert.deepEqual(used.filter(Boolean).length, 1, 'of parallel answers exactly one wins');
      const after = (await store.tokens.findBySerial(token.serial))!;
      assert.deepEqual([after.failCount, after.countAuthSuccess, after.countAuth, after.count], [0, 1, 1, 1], 'the success counted once');
      assert.notEqual((await store.challenges.listByToken(token.id))[0]!.usedAt, null);

      counter.reset();
      assert.equal(await store.challenges.redeem(id, now()), false);
      onPostgres(1, 'redeem');
    });

    it('stores a login\'s audit line with its redeemed challenge: one line of parallel answers, none for a replay', async () => {
      const token = await tokenOf('audited');
      const id = `audited-${database}`;
      await queue(token, id, []);
      const lineOf = (answer: number): AuditEvent => ({
        at: now(), action: 'validate/check', isSuccess: true, serial: token.serial, username: 'audited', realm: 'default', clientIp: `192.0.2.${answer}`, info: 'accepted_challenge',
      });
      const linesOfToken = async (): Promise<AuditEvent[]> => (await store.audit.list(10_000)).filter((line) => line.serial === token.serial);
      const used = await Promise.all(Array.from({ length: 5 }, async (_, answer) => store.challenges.redeem(id, now(), lineOf(answer))));
      assert.equal(used.filter(Boolean).length, 1, 'of parallel answers exactly one wins');
      assert.deepEqual(await linesOfToken(), [lineOf(used.indexOf(true))], 'the winner\'s line, and only it');

      counter.reset();
      assert.equal(await store.challenges.redeem(id, now(), lineOf(9)), false);
      onPostgres(1, 'a refused redeem with its audit line');
      assert.equal((await linesOfToken()).length, 1, 'a replay stores no line');

      await queue(token, `${id}-2`, []);
      counter.reset();
      assert.equal(await store.challenges.redeem(`${id}-2`, now(), lineOf(7)), true);
      onPostgres(1, 'a redeem with its audit line');
      assert.equal((await linesOfToken()).length, 2);
    });

    it('redeems nothing for a locked token, and changes neither the challenge nor the counters', async () => {
      const token = await tokenOf('locked', { failCount: 10 });
      const id = `locked-${database}`;
      await queue(token, id, []);
      assert.equal(await store.challenges.redeem(id, now()), false);
      const after = (await store.tokens.findBySerial(token.serial))!;
      assert.deepEqual([after.failCount, after.countAuthSuccess, after.countAuth], [10, 0, 0]);
      assert.equal((await store.challenges.listByToken(token.id))[0]!.usedAt, null);
    });

    it('ends a delivery and shows it on the challenge in one step; a late deferral changes neither', async () => {
      const token = await tokenOf('delivery');
      const id = `delivery-${database}`;
      await queue(token, id, []);
      counter.reset();
      await store.outbox.markSent(id, now(), 1);
      assert.equal(counter.count(), 1, 'markSent: one statement');
      const state = async () => ({
        mail: (await t.composed.database.db.selectFrom('outbox').select('state').where('id', '=', id).executeTakeFirstOrThrow()).state,
        challenge: (await store.challenges.listByToken(token.id))[0]!.deliveryState,
      });
      assert.deepEqual(await state(), { mail: 'sent', challenge: 'sent' });
      counter.reset();
      await store.outbox.markDeferred(id, 2, now() + 60_000, 'late');
      assert.equal(counter.count(), 1, 'markDeferred: one statement');
      assert.deepEqual(await state(), { mail: 'sent', challenge: 'sent' }, 'a sent mail stays sent');

      const deferred = `deferred-${database}`;
      await queue(token, deferred, []);
      await store.outbox.markDeferred(deferred, 1, now() + 60_000, 'relay: ECONNECTION');
      assert.deepEqual((await store.challenges.listByToken(token.id)).find((challenge) => challenge.id === deferred)?.deliveryState, 'deferred');
      await store.outbox.markFailed(deferred, 'relay: 550', now(), 2);
      assert.deepEqual((await store.challenges.listByToken(token.id)).find((challenge) => challenge.id === deferred)?.deliveryState, 'failed');
    });

    it('reads a user and exactly their tokens, in id order, in one statement', async () => {
      const first = await tokenOf('owner');
      const second = await tokenOf('owner');
      await tokenOf('neighbour');
      counter.reset();
      const found = await store.users.findByLoginWithTokens('local', 'owner');
      assert.equal(counter.count(), 1);
      assert.equal(found?.user.login, 'owner');
      assert.deepEqual(found?.tokens.map((token) => token.serial), [first.serial, second.serial]);
      assert.deepEqual(found?.tokens, await store.tokens.findByOwner('local', found!.user.id), 'the same tokens as read alone');

      await store.users.insert({ resolver: 'local', login: 'tokenless', email: '', givenname: '', surname: '', phone: '', mobile: '' });
      assert.deepEqual((await store.users.findByLoginWithTokens('local', 'tokenless'))?.tokens, []);
      assert.equal(await store.users.findByLoginWithTokens('local', 'nobody'), undefined);
    });

    it('reads what a login asks next with the user and tokens, in one statement: the same as read apart', async () => {
      const mine = await tokenOf('reader');
      const other = await tokenOf('reader');
      const stranger = await tokenOf('stranger');
      const at = now();
      const challenge = (id: string, token: Token, transactionId: string, createdAt: number, expiresAt = createdAt + 300_000): NewChallenge => ({
        id: `${id}-${database}`, transactionId: `${transactionId}-${database}`, tokenId: token.id, otpHash: `hash-${id}`, createdAt, expiresAt, maxWrongCount: 2, deliveryState: 'queued',
      });
      await store.challenges.insert([
        challenge('older', mine, 'tx-a', at - 2000), challenge('newer', mine, 'tx-b', at - 1000), challenge('spent', mine, 'tx-c', at - 500),
        challenge('expired', mine, 'tx-d', at - 400_000), challenge('guessed', mine, 'tx-e', at - 300), challenge('other', other, 'tx-b', at - 1000),
        challenge('strangers', stranger, 'tx-b', at - 1000),
      ]);
      await store.challenges.redeem(`spent-${database}`, at);
      for (let guess = 0; guess < 2; guess += 1) await store.challenges.recordWrongAnswer(`guessed-${database}`);
      const failureKey = `fail:client:reads-${database}`;
      await store.rateLimits.take(failureKey, 1, 60_000, at - 1000);
      const sortedIds = (challenges: readonly { id: string }[]): string[] => challenges.map((found) => found.id).sort();

      counter.reset();
      const open = await store.users.findForLogin('local', 'reader', { failureKey, transactionId: undefined, nowMilliseconds: at });
      assert.equal(counter.count(), 1, 'one statement');
      assert.equal(open?.user.login, 'reader');
      assert.deepEqual(open?.tokens, await store.tokens.findByOwner('local', open!.user.id), 'the same tokens as read alone');
      for (const token of [mine, other]) {
        assert.deepEqual(open!.reads.challenges.filter((found) => found.tokenId === token.id), await store.challenges.findOpenByToken(token.id, at), `open challenges of ${token.serial}, newest first`);
      }
      assert.deepEqual(sortedIds(open!.reads.challenges), [`newer-${database}`, `older-${database}`, `other-${database}`]);
      assert.deepEqual(open!.reads.failureBucket, { units: 0, updatedAt: at - 1000 });
      assert.deepEqual(hasUnitAt(open!.reads.failureBucket, 1, 60_000, at), await store.rateLimits.hasUnit(failureKey, 1, 60_000, at), 'the same verdict as hasUnit');
      assert.deepEqual([open!.reads.failureKey, open!.reads.transactionId, open!.reads.openAt], [failureKey, undefined, at]);

      counter.reset();
      const answer = await store.users.findForLogin('local', 'reader', { failureKey: 'fail:client:nobody', transactionId: `tx-b-${database}`, nowMilliseconds: at });
      assert.equal(counter.count(), 1, 'one statement');
      assert.deepEqual(sortedIds(answer!.reads.challenges), sortedIds(await store.challenges.findByTransaction(`tx-b-${database}`, [mine.id, other.id])));
      assert.deepEqual(sortedIds(answer!.reads.challenges), [`newer-${database}`, `other-${database}`], 'the transaction\'s challenges of this user\'s tokens only');
      assert.equal(answer!.reads.failureBucket, undefined, 'no bucket stored: none read (it counts as full)');
      const spent = await store.users.findForLogin('local', 'reader', { failureKey, transactionId: `tx-c-${database}`, nowMilliseconds: at });
      assert.deepEqual(spent!.reads.challenges.map((found) => [found.id, found.usedAt]), [[`spent-${database}`, at]], 'used ones too, as findByTransaction');

      await store.users.insert({ resolver: 'local', login: 'readerless', email: '', givenname: '', surname: '', phone: '', mobile: '' });
      const tokenless = await store.users.findForLogin('local', 'readerless', { failureKey, transactionId: undefined, nowMilliseconds: at });
      assert.deepEqual([tokenless?.tokens, tokenless?.reads.challenges], [[], []]);
      assert.equal(await store.users.findForLogin('local', 'nobody', { failureKey, transactionId: undefined, nowMilliseconds: at }), undefined);
    });
  });
}

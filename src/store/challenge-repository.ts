import { sql, type ExpressionBuilder, type Kysely, type QueryCreator } from 'kysely';
import type { AuditEvent } from '../core/audit-event.js';
import type { Challenge, DeliveryState, NewChallenge } from '../core/challenges/challenge.js';
import type { ChallengeRepository } from '../core/ports.js';
import { insertAuditEvent, auditValuesOf, type AuditValues } from './audit-repository.js';
import { deleteInBatches } from './delete-in-batches.js';
import { inTransaction } from './in-transaction.js';
import { prepareQuery, rowsOf } from './prepared-query.js';
import type { ChallengeRow, Database, DialectName } from './schema.js';

export function toChallenge(row: ChallengeRow): Challenge {
  return {
    id: row.id,
    transactionId: row.transaction_id,
    tokenId: Number(row.token_id),
    otpHash: row.otp_hash,
    createdAt: Number(row.created_at),
    expiresAt: Number(row.expires_at),
    usedAt: row.used_at === null ? null : Number(row.used_at),
    wrongCount: row.wrong_count,
    maxWrongCount: row.max_wrong_count,
    deliveryState: row.delivery_state as DeliveryState,
  };
}

/** The hot path of /validate/check (prepared: see prepared-query.ts). */
const challengesByTransaction = prepareQuery((db, transactionId: string) => db.selectFrom('challenge').selectAll().where('transaction_id', '=', transactionId));

/** One condition decides: used, expired, out of guesses, or its token disabled or locked meanwhile. */
const consumeChallenge = (db: QueryCreator<Database>, id: string, nowMilliseconds: number) =>
  db
    .updateTable('challenge')
    .set({ used_at: nowMilliseconds })
    .where('id', '=', id)
    .where('used_at', 'is', null)
    .where('expires_at', '>', nowMilliseconds)
    .where((eb) => eb('wrong_count', '<', eb.ref('max_wrong_count')))
    .where((eb) =>
      eb.exists(
        eb
          .selectFrom('token')
          .select('token.id')
          .whereRef('token.id', '=', 'challenge.token_id')
          .where('token.is_active', '=', 1)
          .where('token.is_revoked', '=', 0)
          .where('token.is_locked', '=', 0)
          .whereRef('token.fail_count', '<', 'token.max_fail_count'),
      ),
    )
    .returning('token_id');

/** A successful authentication: the fail counter cleared, the use counters one up. */
const successCounters = (nowMilliseconds: number) => (eb: ExpressionBuilder<Database, 'token'>) => ({
  fail_count: 0,
  count: eb('count', '+', 1),
  count_auth: eb('count_auth', '+', 1),
  count_auth_success: eb('count_auth_success', '+', 1),
  fail_count_updated_at: nowMilliseconds,
});

/** PostgreSQL: the consume and its token's success in one statement (a data-modifying CTE), so one round trip. */
const redeemInOneStatement = prepareQuery((db, id: string, nowMilliseconds: number) =>
  db
    .with('used', (qb) => consumeChallenge(qb, id, nowMilliseconds))
    .updateTable('token')
    .set(successCounters(nowMilliseconds))
    .where('token.id', 'in', (eb) => eb.selectFrom('used').select('used.token_id'))
    .returning('token.id'));

/**
 * PostgreSQL, with the login's audit line: a third data-modifying CTE inserts it from `used`, so the row
 * exists exactly when the challenge was consumed, in the same round trip. The casts type the parameters
 * for the insert (a bare parameter in a SELECT list would be text).
 */
const redeemAndAuditInOneStatement = prepareQuery((db, id: string, nowMilliseconds: number, ...audit: AuditValues) => {
  const [at, action, isSuccess, serial, username, realm, clientIp, info] = audit;
  return db
    .with('used', (qb) => consumeChallenge(qb, id, nowMilliseconds))
    .with('audited', (qb) =>
      qb
        .insertInto('audit_event')
        .columns(['at', 'action', 'is_success', 'serial', 'username', 'realm', 'client_ip', 'info'])
        .expression((eb) =>
          eb.selectFrom('used').select([
            sql<number>`cast(${at} as bigint)`.as('at'),
            sql<string>`cast(${action} as varchar)`.as('action'),
            sql<number>`cast(${isSuccess} as integer)`.as('is_success'),
            sql<string | null>`cast(${serial} as varchar)`.as('serial'),
            sql<string | null>`cast(${username} as varchar)`.as('username'),
            sql<string | null>`cast(${realm} as varchar)`.as('realm'),
            sql<string | null>`cast(${clientIp} as varchar)`.as('client_ip'),
            sql<string | null>`cast(${info} as varchar)`.as('info'),
          ]),
        ))
    .updateTable('token')
    .set(successCounters(nowMilliseconds))
    .where('token.id', 'in', (eb) => eb.selectFrom('used').select('used.token_id'))
    .returning('token.id');
});

/** SQLite (no DML in a WITH clause): the two statements, in one transaction. */
const consumeOnly = prepareQuery((db, id: string, nowMilliseconds: number) => consumeChallenge(db, id, nowMilliseconds));
const recordSuccessOf = prepareQuery((db, tokenId: number, nowMilliseconds: number) => db.updateTable('token').set(successCounters(nowMilliseconds)).where('id', '=', tokenId));

/** Every PIN check of a token with an open challenge, and every trigger, asks this (prepared). */
const openChallengesOfToken = prepareQuery((db, tokenId: number, nowMilliseconds: number) =>
  db
    .selectFrom('challenge')
    .selectAll()
    .where('token_id', '=', tokenId)
    .where('used_at', 'is', null)
    .where('expires_at', '>', nowMilliseconds)
    .where((eb) => eb('wrong_count', '<', eb.ref('max_wrong_count')))
    .orderBy('created_at', 'desc'));

type ChallengeValues = [id: string, transactionId: string, tokenId: number, otpHash: string, createdAt: number, expiresAt: number, maxWrongCount: number, deliveryState: string];

/** Challenges of one trigger, one row per token (prepared per row count). */
const insertChallenges = prepareQuery((db, ...values: Array<ChallengeValues[number]>) =>
  db.insertInto('challenge').values(
    rowsOf<ChallengeValues>(values, 8).map(([id, transactionId, tokenId, otpHash, createdAt, expiresAt, maxWrongCount, deliveryState]) => ({
      id, transaction_id: transactionId, token_id: tokenId, otp_hash: otpHash, created_at: createdAt, expires_at: expiresAt,
      used_at: null, wrong_count: 0, max_wrong_count: maxWrongCount, delivery_state: deliveryState,
    })),
  ));

export function createChallengeRepository(db: Kysely<Database>, dialect: DialectName): ChallengeRepository {
  return {
    async insert(challenges: readonly NewChallenge[]): Promise<void> {
      if (challenges.length === 0) return;
      await insertChallenges(db, ...challenges.flatMap((challenge): ChallengeValues => [
        challenge.id, challenge.transactionId, challenge.tokenId, challenge.otpHash,
        challenge.createdAt, challenge.expiresAt, challenge.maxWrongCount, challenge.deliveryState,
      ]));
    },

    async findByTransaction(transactionId: string, tokenIds: readonly number[]): Promise<Challenge[]> {
      if (tokenIds.length === 0) return [];
      // By transaction id alone, the token filter in code: with both in the WHERE clause SQLite (which has
      // no statistics) chose the token index and walked every challenge the token ever had - 47 us
      // instead of 5 us at 250 challenges per token, and growing with each login.
      const wanted = new Set(tokenIds);
      return (await challengesByTransaction(db, transactionId)).rows.filter((row) => wanted.has(Number(row.token_id))).map(toChallenge);
    },

    async findOpenByToken(tokenId: number, nowMilliseconds: number): Promise<Challenge[]> {
      return (await openChallengesOfToken(db, tokenId, nowMilliseconds)).rows.map(toChallenge);
    },

    async listByToken(tokenId: number): Promise<Challenge[]> {
      const rows = await db.selectFrom('challenge').selectAll().where('token_id', '=', tokenId).orderBy('created_at', 'desc').execute();
      return rows.map(toChallenge);
    },

    async redeem(id: string, nowMilliseconds: number, audit?: AuditEvent): Promise<boolean> {
      if (dialect === 'postgres') {
        const { rows } = audit
          ? await redeemAndAuditInOneStatement(db, id, nowMilliseconds, ...auditValuesOf(audit))
          : await redeemInOneStatement(db, id, nowMilliseconds);
        return rows.length > 0;
      }
      return inTransaction(db, async (trx) => {
        const used = (await consumeOnly(trx, id, nowMilliseconds)).rows[0];
        if (!used) return false;
        await recordSuccessOf(trx, Number(used.token_id), nowMilliseconds);
        if (audit) await insertAuditEvent(trx, audit);
        return true;
      });
    },

    async recordWrongAnswer(id: string): Promise<void> {
      await db
        .updateTable('challenge')
        .set((eb) => ({ wrong_count: eb('wrong_count', '+', 1) }))
        .where('id', '=', id)
        .where('used_at', 'is', null)
        .where((eb) => eb('wrong_count', '<', eb.ref('max_wrong_count')))
        .execute();
    },

    async deleteById(id: string): Promise<void> {
      await db.deleteFrom('challenge').where('id', '=', id).execute();
    },

    /** In batches (see deleteInBatches), through the expiry index of migration 0005. */
    deleteExpired: (beforeMilliseconds: number, batchSize = 1000): Promise<number> =>
      deleteInBatches(batchSize, async (limit) => {
        const batch = db.selectFrom('challenge').select('id').where('expires_at', '<', beforeMilliseconds).limit(limit);
        return Number((await db.deleteFrom('challenge').where('id', 'in', batch).executeTakeFirst()).numDeletedRows);
      }),
  };
}

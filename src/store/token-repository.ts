import type { Kysely } from 'kysely';
import { OtpError } from '../core/errors.js';
import type { TokenRepository } from '../core/ports.js';
import type { NewToken, Token, TokenFilter, TokenPage, TokenPatch } from '../core/tokens/token.js';
import { prepareQuery } from './prepared-query.js';
import type { Database, TokenRow } from './schema.js';
import { isUniqueViolation } from './unique-violation.js';
import { matchesWildcard } from './wildcard.js';

export function toToken(row: TokenRow): Token {
  return {
    id: Number(row.id),
    serial: row.serial,
    tokenType: 'email',
    description: row.description,
    isActive: row.is_active === 1,
    isRevoked: row.is_revoked === 1,
    isLocked: row.is_locked === 1,
    failCount: row.fail_count,
    maxFailCount: row.max_fail_count,
    otpLength: row.otp_length,
    count: row.count,
    pinHash: row.pin_hash,
    owner: row.user_resolver !== null && row.user_id !== null ? { resolver: row.user_resolver, userId: row.user_id, realm: row.user_realm ?? '' } : null,
    info: Object.freeze(JSON.parse(row.info_json) as Record<string, string>),
    createdAt: Number(row.created_at),
    failCountUpdatedAt: row.fail_count_updated_at === null ? null : Number(row.fail_count_updated_at),
    countAuth: row.count_auth,
    countAuthSuccess: row.count_auth_success,
  };
}

const SORT_COLUMNS = { serial: 'serial', id: 'id', failcount: 'fail_count', description: 'description' } as const;

/** A user's tokens (validate reads them joined to the user: UserRepository.findByLoginWithTokens). */
const tokensByOwner = prepareQuery((db, resolver: string, userId: string) =>
  db.selectFrom('token').selectAll().where('user_resolver', '=', resolver).where('user_id', '=', userId).orderBy('id'));

/** The bound lives in the WHERE clause, so parallel failures cannot push the counter past the limit. */
const recordTokenFailures = prepareQuery((db, nowMilliseconds: number, ...ids: number[]) =>
  db
    .updateTable('token')
    .set((eb) => ({
      fail_count: eb('fail_count', '+', 1),
      count_auth: eb('count_auth', '+', 1),
      fail_count_updated_at: nowMilliseconds,
    }))
    .where('id', 'in', ids)
    .where((eb) => eb('fail_count', '<', eb.ref('max_fail_count'))));

export function createTokenRepository(db: Kysely<Database>): TokenRepository {
  return {
    async insert(token: NewToken): Promise<Token> {
      try {
        const row = await db
          .insertInto('token')
          .values({
            serial: token.serial,
            token_type: token.tokenType,
            description: token.description,
            is_active: token.isActive ? 1 : 0,
            is_revoked: token.isRevoked ? 1 : 0,
            is_locked: token.isLocked ? 1 : 0,
            fail_count: token.failCount,
            max_fail_count: token.maxFailCount,
            otp_length: token.otpLength,
            count: 0,
            pin_hash: token.pinHash,
            user_resolver: token.owner?.resolver ?? null,
            user_id: token.owner?.userId ?? null,
            user_realm: token.owner?.realm ?? null,
            info_json: JSON.stringify(token.info),
            created_at: token.createdAt,
            fail_count_updated_at: null,
            count_auth: 0,
            count_auth_success: 0,
          })
          .returningAll()
          .executeTakeFirstOrThrow();
        return toToken(row);
      } catch (error) {
        if (isUniqueViolation(error)) throw new OtpError('TOKEN_SERIAL_EXISTS', { publicParams: { serial: token.serial }, cause: error });
        throw error;
      }
    },

    async update(id: number, patch: TokenPatch): Promise<void> {
      const values: Partial<Record<keyof TokenRow, unknown>> = {};
      if (patch.description !== undefined) values.description = patch.description;
      if (patch.isActive !== undefined) values.is_active = patch.isActive ? 1 : 0;
      if (patch.isRevoked !== undefined) values.is_revoked = patch.isRevoked ? 1 : 0;
      if (patch.isLocked !== undefined) values.is_locked = patch.isLocked ? 1 : 0;
      if (patch.failCount !== undefined) values.fail_count = patch.failCount;
      if (patch.maxFailCount !== undefined) values.max_fail_count = patch.maxFailCount;
      if (patch.otpLength !== undefined) values.otp_length = patch.otpLength;
      if (patch.pinHash !== undefined) values.pin_hash = patch.pinHash;
      if (patch.info !== undefined) values.info_json = JSON.stringify(patch.info);
      if (patch.owner !== undefined) {
        values.user_resolver = patch.owner?.resolver ?? null;
        values.user_id = patch.owner?.userId ?? null;
        values.user_realm = patch.owner?.realm ?? null;
      }
      if (Object.keys(values).length === 0) return;
      await db.updateTable('token').set(values as never).where('id', '=', id).execute();
    },

    async findBySerial(serial: string): Promise<Token | undefined> {
      const row = await db.selectFrom('token').selectAll().where('serial', '=', serial).executeTakeFirst();
      return row && toToken(row);
    },

    async findByOwner(resolver: string, userId: string): Promise<Token[]> {
      return (await tokensByOwner(db, resolver, userId)).rows.map(toToken);
    },

    async list(filter: TokenFilter): Promise<TokenPage> {
      let query = db.selectFrom('token');
      if (filter.serial !== undefined) {
        query = filter.serial.includes('*')
          ? query.where(matchesWildcard('serial', filter.serial))
          : query.where('serial', '=', filter.serial);
      }
      if (filter.owner) query = query.where('user_resolver', '=', filter.owner.resolver).where('user_id', '=', filter.owner.userId);
      if (filter.realm !== undefined) query = query.where('user_realm', '=', filter.realm);
      if (filter.isActive !== undefined) query = query.where('is_active', '=', filter.isActive ? 1 : 0);
      const counted = await query.select((eb) => eb.fn.countAll<number>().as('count')).executeTakeFirstOrThrow();
      const rows = await query
        .selectAll()
        .orderBy(SORT_COLUMNS[filter.sortBy], filter.sortDescending ? 'desc' : 'asc')
        .orderBy('id')
        .limit(filter.pageSize)
        .offset((filter.page - 1) * filter.pageSize)
        .execute();
      return { tokens: rows.map(toToken), count: Number(counted.count) };
    },

    async delete(id: number): Promise<void> {
      await db.deleteFrom('challenge').where('token_id', '=', id).execute();
      await db.deleteFrom('token').where('id', '=', id).execute();
    },

    async recordFailure(ids: readonly number[], nowMilliseconds: number): Promise<void> {
      if (ids.length === 0) return;
      await recordTokenFailures(db, nowMilliseconds, ...ids);
    },

    async clearStaleFailCount(id: number, lastFailureAtOrBefore: number): Promise<boolean> {
      const result = await db
        .updateTable('token')
        .set({ fail_count: 0 })
        .where('id', '=', id)
        .where((eb) => eb('fail_count', '>=', eb.ref('max_fail_count')))
        .where('fail_count_updated_at', '<=', lastFailureAtOrBefore)
        .executeTakeFirst();
      return Number(result.numUpdatedRows) > 0;
    },
  };
}

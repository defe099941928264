import { sql, type Kysely } from 'kysely';
import { OtpError } from '../core/errors.js';
import type { Challenge } from '../core/challenges/challenge.js';
import type { LoginReads, LoginReadsQuery, UserRepository } from '../core/ports.js';
import type { Token } from '../core/tokens/token.js';
import type { NewUser, User, UserPatch } from '../core/users/user.js';
import { prepareQuery } from './prepared-query.js';
import type { Database, DialectName, LocalUserRow, TokenRow } from './schema.js';
import { toChallenge } from './challenge-repository.js';
import { storedBucket } from './rate-limit-repository.js';
import { toToken } from './token-repository.js';
import { isUniqueViolation } from './unique-violation.js';
import { matchesWildcard } from './wildcard.js';

function toUser(row: Omit<LocalUserRow, 'created_at'>): User {
  return {
    resolver: row.resolver,
    id: String(row.id),
    login: row.login,
    email: row.email,
    givenname: row.givenname,
    surname: row.surname,
    phone: row.phone,
    mobile: row.mobile,
  };
}

/** Every /validate/check starts here (prepared: see prepared-query.ts). */
const userByLogin = prepareQuery((db, resolver: string, login: string) =>
  db.selectFrom('local_user').selectAll().where('resolver', '=', resolver).where('login', '=', login));

const USER_COLUMNS = ['id', 'resolver', 'login', 'email', 'givenname', 'surname', 'phone', 'mobile'] as const;

/**
 * The same user with their tokens: one row per token (none: one row with the token columns null). The
 * user's columns are renamed, as the token has columns of the same names. One round trip instead of two.
 *
 * On PostgreSQL the user is a MATERIALIZED CTE, so that the token index is searched by both the resolver
 * and the user's id. As a plain join, PostgreSQL derives `token.user_resolver = $1` from the join and the
 * user's condition, and while `token` has no statistics (a fresh or freshly imported table until
 * autovacuum's first ANALYZE, or a server with autovacuum off) it judged that scan as cheap as the per-user
 * one and took it: every token of the resolver read and filtered, per login (0.84 ms with 1,000 users,
 * twice per full flow, growing with the user count). A materialized CTE's columns carry no such equality.
 * SQLite searches the index by both columns either way, and there the CTE's temporary table cost 42 us
 * per call instead of 26 (transaction_id answers, 1,000 users), so it keeps the plain join.
 */
export const userWithTokensQuery = (db: Kysely<Database>, dialect: DialectName, resolver: string, login: string) => {
  const withOwner = dialect === 'postgres'
    ? db.with((cte) => cte('owner').materialized(), (query) => query.selectFrom('local_user').select(USER_COLUMNS).where('resolver', '=', resolver).where('login', '=', login)).selectFrom('owner')
    : db.selectFrom('local_user as owner').where('owner.resolver', '=', resolver).where('owner.login', '=', login);
  return withOwner
    .leftJoin('token', (join) =>
      join.onRef('token.user_resolver', '=', 'owner.resolver').on('token.user_id', '=', sql<string>`cast(${sql.ref('owner.id')} as text)`))
    .select([
      'owner.id as owner_row_id', 'owner.resolver as owner_resolver', 'owner.login as owner_login', 'owner.email as owner_email',
      'owner.givenname as owner_givenname', 'owner.surname as owner_surname', 'owner.phone as owner_phone', 'owner.mobile as owner_mobile',
    ])
    .selectAll('token')
    .orderBy('token.id');
};
const userWithTokensOnPostgres = prepareQuery((db, resolver: string, login: string) => userWithTokensQuery(db, 'postgres', resolver, login));
const userWithTokensOnSqlite = prepareQuery((db, resolver: string, login: string) => userWithTokensQuery(db, 'sqlite', resolver, login));

/**
 * userWithTokensQuery, with what /validate/check asks next in the same statement: the client's failure
 * bucket (a subquery, run once) and each token's challenges (a left join: one row per token and
 * challenge). `target` picks the challenges: one transaction's (the answer step) or the open ones at a
 * time (the PIN step), the latter newest first as findOpenByToken returns them.
 *
 * By transaction id, both databases (without statistics) searched the challenge through the token index,
 * walking every challenge the token ever had (see findByTransaction): the unary plus keeps `token_id` out
 * of their index choice, so they take the transaction index (login-query-plans.test.ts checks both).
 */
export const loginReadsQuery = (db: Kysely<Database>, dialect: DialectName, target: 'transaction' | 'open', resolver: string, login: string, failureKey: string, transactionIdOrNow: string | number) =>
  userWithTokensQuery(db, dialect, resolver, login)
    .leftJoin('challenge as ch', (join) =>
      target === 'transaction'
        ? join
          .on('ch.transaction_id', '=', transactionIdOrNow as string)
          .on(sql<boolean>`+${sql.ref('ch.token_id')} = ${sql.ref('token.id')}`)
        : join
          .onRef('ch.token_id', '=', 'token.id')
          .on('ch.used_at', 'is', null)
          .on('ch.expires_at', '>', transactionIdOrNow as number)
          .on((eb) => eb('ch.wrong_count', '<', eb.ref('ch.max_wrong_count'))))
    .select([
      'ch.id as ch_id', 'ch.transaction_id as ch_transaction_id', 'ch.token_id as ch_token_id', 'ch.otp_hash as ch_otp_hash',
      'ch.created_at as ch_created_at', 'ch.expires_at as ch_expires_at', 'ch.used_at as ch_used_at', 'ch.wrong_count as ch_wrong_count',
      'ch.max_wrong_count as ch_max_wrong_count', 'ch.delivery_state as ch_delivery_state',
    ])
    .select((eb) => [
      eb.selectFrom('rate_bucket').select('units').where('key', '=', failureKey).as('failure_units'),
      eb.selectFrom('rate_bucket').select('updated_at').where('key', '=', failureKey).as('failure_updated_at'),
    ])
    .orderBy('ch.created_at', 'desc');

/** The two prepared forms of loginReadsQuery for one dialect: by transaction id, and open challenges. */
const loginReadsFor = (dialect: DialectName) => ({
  transaction: prepareQuery((db, resolver: string, login: string, failureKey: string, transactionId: string) => loginReadsQuery(db, dialect, 'transaction', resolver, login, failureKey, transactionId)),
  open: prepareQuery((db, resolver: string, login: string, failureKey: string, now: number) => loginReadsQuery(db, dialect, 'open', resolver, login, failureKey, now)),
});
const loginReadsOf = { postgres: loginReadsFor('postgres'), sqlite: loginReadsFor('sqlite') };

type LoginReadsRow = Awaited<ReturnType<typeof loginReadsOf.sqlite.open>>['rows'][number];

/** The owner's columns, as both userWithTokensQuery and loginReadsQuery select them. */
type OwnerColumns = Pick<LoginReadsRow, 'owner_row_id' | 'owner_resolver' | 'owner_login' | 'owner_email' | 'owner_givenname' | 'owner_surname' | 'owner_phone' | 'owner_mobile'>;

function userOfRow(row: OwnerColumns): User {
  return toUser({
    id: row.owner_row_id, resolver: row.owner_resolver, login: row.owner_login, email: row.owner_email, givenname: row.owner_givenname,
    surname: row.owner_surname, phone: row.owner_phone, mobile: row.owner_mobile,
  });
}

export function createUserRepository(db: Kysely<Database>, dialect: DialectName, now: () => number): UserRepository {
  const userWithTokens = dialect === 'postgres' ? userWithTokensOnPostgres : userWithTokensOnSqlite;
  return {
    async findByLogin(resolver: string, login: string): Promise<User | undefined> {
      const row = (await userByLogin(db, resolver, login)).rows[0];
      return row && toUser(row);
    },

    async findByLoginWithTokens(resolver: string, login: string): Promise<{ user: User; tokens: Token[] } | undefined> {
      const { rows } = await userWithTokens(db, resolver, login);
      const first = rows[0];
      if (!first) return undefined;
      const user = userOfRow(first);
      // A user without tokens comes back as one row whose token columns are all null.
      const tokens = first.id === null ? [] : rows.map((row) => toToken(row as TokenRow));
      return { user, tokens };
    },

    async findForLogin(resolver: string, login: string, query: LoginReadsQuery) {
      const queries = loginReadsOf[dialect];
      const { rows } = query.transactionId !== undefined
        ? await queries.transaction(db, resolver, login, query.failureKey, query.transactionId)
        : await queries.open(db, resolver, login, query.failureKey, query.nowMilliseconds);
      const first = rows[0];
      if (!first) return undefined;
      // One row per token and challenge (a token without one: its challenge columns null; a user without
      // tokens: one row with the token columns null too). Rows come by token id, then newest challenge.
      const tokens: Token[] = [];
      const challenges: Challenge[] = [];
      for (const row of rows) {
        if (row.id === null) continue;
        if (tokens[tokens.length - 1]?.id !== Number(row.id)) tokens.push(toToken(row as unknown as TokenRow));
        if (row.ch_id !== null) {
          challenges.push(toChallenge({
            id: row.ch_id, transaction_id: row.ch_transaction_id!, token_id: row.ch_token_id!, otp_hash: row.ch_otp_hash!, created_at: row.ch_created_at!,
            expires_at: row.ch_expires_at!, used_at: row.ch_used_at, wrong_count: row.ch_wrong_count!, max_wrong_count: row.ch_max_wrong_count!,
            delivery_state: row.ch_delivery_state!,
          }));
        }
      }
      const failureBucket = first.failure_units === null ? undefined : storedBucket({ units: first.failure_units, updated_at: first.failure_updated_at! });
      const reads: LoginReads = { failureKey: query.failureKey, failureBucket, transactionId: query.transactionId, openAt: query.nowMilliseconds, challenges };
      return { user: userOfRow(first), tokens, reads };
    },

    async findById(resolver: string, id: string): Promise<User | undefined> {
      if (!/^\d{1,18}$/.test(id)) return undefined;
      const row = await db.selectFrom('local_user').selectAll().where('resolver', '=', resolver).where('id', '=', Number(id)).executeTakeFirst();
      return row && toUser(row);
    },

    async list(resolvers: readonly string[], loginPattern?: string): Promise<User[]> {
      if (resolvers.length === 0) return [];
      let query = db.selectFrom('local_user').selectAll().where('resolver', 'in', resolvers);
      if (loginPattern !== undefined && loginPattern !== '*') {
        query = loginPattern.includes('*')
          ? query.where(matchesWildcard('login', loginPattern))
          : query.where('login', '=', loginPattern);
      }
      const rows = await query.orderBy('login').limit(1000).execute();
      return rows.map(toUser);
    },

    async insert(user: NewUser): Promise<User> {
      try {
        const row = await db
          .insertInto('local_user')
          .values({ ...user, created_at: now() })
          .returningAll()
          .executeTakeFirstOrThrow();
        return toUser(row);
      } catch (error) {
        if (isUniqueViolation(error)) throw new OtpError('USER_EXISTS', { publicParams: { user: `${user.login}@${user.resolver}` }, cause: error });
        throw error;
      }
    },

    async update(resolver: string, login: string, patch: UserPatch): Promise<boolean> {
      if (Object.keys(patch).length === 0) return (await this.findByLogin(resolver, login)) !== undefined;
      const result = await db.updateTable('local_user').set(patch).where('resolver', '=', resolver).where('login', '=', login).executeTakeFirst();
      return Number(result.numUpdatedRows) > 0;
    },

    async delete(resolver: string, login: string): Promise<boolean> {
      const result = await db.deleteFrom('local_user').where('resolver', '=', resolver).where('login', '=', login).executeTakeFirst();
      return Number(result.numDeletedRows) > 0;
    },
  };
}

import type { Kysely } from 'kysely';
import { OtpError } from '../core/errors.js';
import type { UserRepository } from '../core/ports.js';
import type { NewUser, User, UserPatch } from '../core/users/user.js';
import { prepareQuery } from './prepared-query.js';
import type { Database, LocalUserRow } from './schema.js';
import { isUniqueViolation } from './unique-violation.js';
import { matchesWildcard } from './wildcard.js';

function toUser(row: LocalUserRow): User {
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

export function createUserRepository(db: Kysely<Database>, now: () => number): UserRepository {
  return {
    async findByLogin(resolver: string, login: string): Promise<User | undefined> {
      const row = (await userByLogin(db, resolver, login)).rows[0];
      return row && toUser(row);
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

import type { Kysely } from 'kysely';
import type { AdminAccount, AdminRepository } from '../core/ports.js';
import type { Database } from './schema.js';
import { isUniqueViolation } from './unique-violation.js';

export function createAdminRepository(db: Kysely<Database>): AdminRepository {
  const toAdmin = (row: { username: string; password_hash: string; created_at: number }): AdminAccount => ({
    username: row.username,
    passwordHash: row.password_hash,
    createdAt: Number(row.created_at),
  });
  return {
    async find(username: string): Promise<AdminAccount | undefined> {
      const row = await db.selectFrom('admin').selectAll().where('username', '=', username).executeTakeFirst();
      return row && toAdmin(row);
    },
    async list(): Promise<AdminAccount[]> {
      return (await db.selectFrom('admin').selectAll().orderBy('username').execute()).map(toAdmin);
    },
    async insert(admin: AdminAccount): Promise<boolean> {
      try {
        await db.insertInto('admin').values({ username: admin.username, password_hash: admin.passwordHash, created_at: admin.createdAt }).execute();
        return true;
      } catch (error) {
        if (isUniqueViolation(error)) return false;
        throw error;
      }
    },
    async setPasswordHash(username: string, passwordHash: string): Promise<boolean> {
      const result = await db.updateTable('admin').set({ password_hash: passwordHash }).where('username', '=', username).executeTakeFirst();
      return Number(result.numUpdatedRows) > 0;
    },
    async delete(username: string): Promise<boolean> {
      const result = await db.deleteFrom('admin').where('username', '=', username).executeTakeFirst();
      return Number(result.numDeletedRows) > 0;
    },
  };
}

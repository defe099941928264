import type { Kysely, Transaction } from 'kysely';
import { isStalePreparedStatement } from './named-statements.js';

/**
 * Runs `work` in a transaction, or in the caller's when `db` is already bound to one (Kysely cannot nest).
 * A transaction that failed on a stale prepared statement (PostgreSQL, after a schema change) rolled back
 * whole, and the names are renewed by then: it runs once more.
 */
export async function inTransaction<DB, T>(db: Kysely<DB>, work: (trx: Kysely<DB> | Transaction<DB>) => Promise<T>): Promise<T> {
  if (db.isTransaction) return work(db);
  try {
    return await db.transaction().execute(work);
  } catch (error) {
    if (!isStalePreparedStatement(error)) throw error;
    return db.transaction().execute(work);
  }
}

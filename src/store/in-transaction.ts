import type { Kysely, Transaction } from 'kysely';

/** Runs `work` in a transaction, or in the caller's when `db` is already bound to one (Kysely cannot nest). */
export async function inTransaction<DB, T>(db: Kysely<DB>, work: (trx: Kysely<DB> | Transaction<DB>) => Promise<T>): Promise<T> {
  if (db.isTransaction) return work(db);
  return db.transaction().execute(work);
}

import { setTimeout as sleep } from 'node:timers/promises';
import { SqliteDialect, type CompiledQuery, type DatabaseConnection, type Driver, type QueryResult, type SqliteDatabase, type SqliteDialectConfig } from 'kysely';
import { SqliteScheduler, type Lease, type TransactionControl } from './sqlite-scheduler.js';

/**
 * The most statement work one check phase of the event loop runs before the rest waits for the next turn
 * (SqliteScheduler): well under the 20 ms an event-loop stall may last, with room for the poll phase's
 * new requests and a garbage collection in the same turn.
 */
const TURN_BUDGET_MILLISECONDS = 4;

/** Between two tries for a lock another connection holds: a timer, so the event loop runs meanwhile. */
const LOCK_RETRY_MILLISECONDS = 1;

/** SQLITE_BUSY and its extended codes (SQLITE_BUSY_RECOVERY while another connection recovers the log). */
function isBusy(error: unknown): boolean {
  const code = (error as { code?: unknown } | null)?.code;
  return typeof code === 'string' && code.startsWith('SQLITE_BUSY');
}

/**
 * A connection whose statements never wait for a lock on the event loop. With busy_timeout set, SQLite
 * waits for a lock by sleeping in the calling thread: while the checkpointer thread held the write lock
 * the whole server stood still. The main connection runs with busy_timeout = 0 instead, so a statement
 * that finds the lock taken fails at once with SQLITE_BUSY, having done nothing; outside a transaction
 * that is safe to repeat, and it is repeated from a timer until the lock is free or
 * `lockWaitMilliseconds` pass (then the SQLITE_BUSY error stands, as busy_timeout's would have).
 * Inside one it cannot happen: every transaction begins IMMEDIATE, holding the write lock from its
 * first statement (SqliteScheduler.begin), and `begin immediate` itself runs outside one.
 *
 * better-sqlite3 runs a statement synchronously, so Kysely's SqliteConnection throws SQLITE_BUSY from
 * the call itself: caught here without an extra promise on the path of every statement that succeeds.
 */
function waitingForLocks(connection: DatabaseConnection, isInTransaction: () => boolean, lockWaitMilliseconds: number): DatabaseConnection {
  const retry = async <R>(query: CompiledQuery, firstError: unknown): Promise<QueryResult<R>> => {
    const deadline = Date.now() + lockWaitMilliseconds;
    let error = firstError;
    while (isBusy(error) && !isInTransaction() && Date.now() < deadline) {
      await sleep(LOCK_RETRY_MILLISECONDS);
      try {
        return await connection.executeQuery<R>(query);
      } catch (next) {
        error = next;
      }
    }
    throw error;
  };
  return {
    executeQuery<R>(query: CompiledQuery): Promise<QueryResult<R>> {
      try {
        return connection.executeQuery<R>(query);
      } catch (error) {
        return isBusy(error) && !isInTransaction() ? retry<R>(query, error) : Promise.reject(error);
      }
    },
    streamQuery: (query, chunkSize) => connection.streamQuery(query, chunkSize),
  };
}

export interface MailotpSqliteDialectConfig extends SqliteDialectConfig {
  database: SqliteDatabase;
  /** better-sqlite3's Database.inTransaction of the same connection. */
  isInTransaction(): boolean;
  /** How long a statement waits for another connection's write lock before it fails. */
  lockWaitMilliseconds?: number;
  /** Statement work a turn of the event loop runs before the rest waits for the next (SqliteScheduler). */
  turnBudgetMilliseconds?: number;
}

/**
 * Kysely's SQLite dialect, changed in three ways for a server that shares its one connection among all
 * requests on the event loop:
 *
 * - Turns and group commit: callers get the connection in turns of the event loop, at most
 *   TURN_BUDGET_MILLISECONDS of statements a turn, and the transactions of one turn commit together
 *   (SqliteScheduler). Statements never interleave inside a transaction.
 * - Locks: a statement that finds another connection's write lock waits on a timer, not in SQLite's busy
 *   handler on the event loop (`waitingForLocks`).
 * - Transactions begin IMMEDIATE: each takes the write lock before its first read, so none can fail
 *   later on a lock or a stale snapshot (SQLITE_BUSY_SNAPSHOT), and none holds a read snapshot while it
 *   waits for the lock, which would keep a RESTART checkpoint waiting for it (sqlite-checkpointer.ts).
 *   This costs nothing in parallelism: the one connection runs one transaction at a time anyway.
 */
export class MailotpSqliteDialect extends SqliteDialect {
  readonly #database: SqliteDatabase;
  readonly #isInTransaction: () => boolean;
  readonly #lockWaitMilliseconds: number;
  readonly #turnBudgetMilliseconds: number;

  constructor({ isInTransaction, lockWaitMilliseconds = 5000, turnBudgetMilliseconds = TURN_BUDGET_MILLISECONDS, ...config }: MailotpSqliteDialectConfig) {
    super(config);
    this.#database = config.database;
    this.#isInTransaction = isInTransaction;
    this.#lockWaitMilliseconds = lockWaitMilliseconds;
    this.#turnBudgetMilliseconds = turnBudgetMilliseconds;
  }

  override createDriver(): Driver {
    const driver = super.createDriver();
    const init = driver.init.bind(driver);
    const acquireConnection = driver.acquireConnection.bind(driver);
    const control: TransactionControl = {
      inTransaction: this.#isInTransaction,
      run: (sql) => void this.#database.prepare(sql).run([]),
    };
    let scheduler: SqliteScheduler | undefined;
    driver.init = async () => {
      await init();
      // The one connection, taken from Kysely's mutex once and for all: the scheduler hands it out from now on.
      const connection = await acquireConnection();
      scheduler = new SqliteScheduler(waitingForLocks(connection, this.#isInTransaction, this.#lockWaitMilliseconds), control, this.#turnBudgetMilliseconds);
    };
    driver.acquireConnection = () => scheduler!.acquire();
    driver.beginTransaction = (lease) => scheduler!.begin(lease as Lease);
    driver.commitTransaction = (lease) => scheduler!.commit(lease as Lease);
    driver.rollbackTransaction = (lease) => scheduler!.rollback(lease as Lease);
    driver.releaseConnection = async (lease) => scheduler!.release(lease as Lease);
    return driver;
  }
}

import { setTimeout as sleep } from 'node:timers/promises';
import { CompiledQuery, SqliteDialect, type DatabaseConnection, type Driver, type QueryResult, type SqliteDialectConfig } from 'kysely';
import { createTurnBudget } from './next-turn.js';

/**
 * The most statement work one check phase of the event loop runs before the rest waits for the next turn
 * (createTurnBudget): well under the 20 ms an event-loop stall may last, with room for the poll phase's
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
 * first statement (see `beginTransaction` below), and `begin immediate` itself runs outside one.
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
  /** better-sqlite3's Database.inTransaction of the same connection. */
  isInTransaction(): boolean;
  /** How long a statement waits for another connection's write lock before it fails. */
  lockWaitMilliseconds?: number;
}

/**
 * Kysely's SQLite dialect, changed in three ways for a server that shares its one connection among all
 * requests on the event loop:
 *
 * - Turns: better-sqlite3 runs each statement synchronously, so a request's whole chain of statements used
 *   to run in the turn of the event loop that started it: under saturation one turn served every ready
 *   request to the end (64 transaction_id answers at c=64, 60 ms on a slow machine) while timers, new
 *   connections and health checks waited. Taking the connection in the next turn (setImmediate) lets each
 *   turn run one statement or transaction per request, and no more of them than TURN_BUDGET_MILLISECONDS
 *   of work: at 64 concurrent answers one step of every request still made turns of 13-24 ms. The
 *   connection is still taken and released as before, so statements never interleave inside a transaction.
 * - Locks: a statement that finds another connection's write lock waits on a timer, not in SQLite's busy
 *   handler on the event loop (`waitingForLocks`).
 * - Transactions begin IMMEDIATE: each takes the write lock before its first read, so none can fail
 *   later on a lock or a stale snapshot (SQLITE_BUSY_SNAPSHOT), and none holds a read snapshot while it
 *   waits for the lock, which would keep a RESTART checkpoint waiting for it (sqlite-checkpointer.ts).
 *   This costs nothing in parallelism: the one connection runs one transaction at a time anyway.
 */
export class MailotpSqliteDialect extends SqliteDialect {
  readonly #isInTransaction: () => boolean;
  readonly #lockWaitMilliseconds: number;

  constructor({ isInTransaction, lockWaitMilliseconds = 5000, ...config }: MailotpSqliteDialectConfig) {
    super(config);
    this.#isInTransaction = isInTransaction;
    this.#lockWaitMilliseconds = lockWaitMilliseconds;
  }

  override createDriver(): Driver {
    const driver = super.createDriver();
    const acquireConnection = driver.acquireConnection.bind(driver);
    const wrapped = new WeakMap<DatabaseConnection, DatabaseConnection>();
    const nextTurn = createTurnBudget(TURN_BUDGET_MILLISECONDS);
    driver.acquireConnection = async () => {
      await nextTurn();
      const connection = await acquireConnection();
      let waiting = wrapped.get(connection);
      if (!waiting) wrapped.set(connection, (waiting = waitingForLocks(connection, this.#isInTransaction, this.#lockWaitMilliseconds)));
      return waiting;
    };
    driver.beginTransaction = async (connection) => {
      await connection.executeQuery(CompiledQuery.raw('begin immediate'));
    };
    return driver;
  }
}

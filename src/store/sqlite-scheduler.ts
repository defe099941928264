import { CompiledQuery, type DatabaseConnection, type QueryResult } from 'kysely';

/** The statements that frame transactions, run synchronously on the connection (they throw on failure). */
export interface TransactionControl {
  /** better-sqlite3's Database.inTransaction: false once SQLite has ended a transaction on its own. */
  inTransaction(): boolean;
  run(sql: 'savepoint mailotp_group' | 'release mailotp_group' | 'rollback to mailotp_group' | 'commit' | 'rollback'): void;
}

const BEGIN_IMMEDIATE = CompiledQuery.raw('begin immediate');

/**
 * The most transactions one COMMIT ends. A transaction's caller goes on (renders and writes its answer)
 * once its group has committed, and that work should count against the turn's budget as it did when
 * each transaction committed alone: a group this small commits within the turn, the callers of the ones
 * before it go on while the turn still runs, and the clock read before the next caller counts them. Most
 * of what grouping saves comes with the first few transactions of a group (BEGIN and COMMIT spread over
 * eight instead of one).
 */
const MAX_GROUP_SIZE = 8;

interface Member {
  resolve(): void;
  reject(error: unknown): void;
}

/**
 * One caller's use of the connection, from acquireConnection to releaseConnection: one statement, or a
 * transaction. Kysely hands it back to the driver's begin, commit, rollback and release, so each call
 * knows whose it is even after the scheduler has moved on to the next caller.
 */
class Lease implements DatabaseConnection {
  /** A transaction begun on this lease is open (neither committed into a group nor rolled back). */
  inTransaction = false;
  /** That transaction joined an open group through a savepoint (it is not the group's first). */
  isSavepoint = false;
  isFinished = false;
  isReleased = false;
  onFinish: () => void = () => undefined;

  constructor(private readonly scheduler: SqliteScheduler) {}

  executeQuery<R>(query: CompiledQuery): Promise<QueryResult<R>> {
    return this.scheduler.executeQuery<R>(this, query);
  }

  streamQuery<R>(query: CompiledQuery, chunkSize?: number): AsyncIterableIterator<QueryResult<R>> {
    return this.scheduler.streamQuery<R>(this, query, chunkSize);
  }
}

/** What a caller gets when SQLite itself ended the group's transaction (I/O error, full disk, interrupt). */
function groupLost(): Error {
  return Object.assign(new Error('SQLite rolled back the transaction this one was committed into'), { code: 'SQLITE_ABORT_GROUP' });
}

/**
 * Hands SQLite's one connection to the event loop's callers, in turns, and commits each turn's
 * transactions together.
 *
 * Turns: callers get the connection in the order they asked, in the event loop's check phase, until the
 * work done since the first of that turn reaches `budgetMilliseconds`; the rest wait for the next turn,
 * after timers and I/O have run. better-sqlite3 runs statements synchronously, so a caller's statement or
 * whole transaction runs in the microtasks right after it gets the connection, and the clock read before
 * the next caller counts it; one caller always gets it per turn, so nothing starves. Without turns, one
 * check phase ran a step of every waiting request: at 64 concurrent transaction_id answers 13-24 ms, while
 * every timer, health check and new connection waited.
 *
 * Group commit: a WAL commit costs SQLite more than the small transactions it ends (BEGIN and COMMIT
 * were 68 of the 212 us of SQLite in a transaction_id answer, under load), and the pages that
 * transactions of one turn share (the audit table's last page and its index) were written once per
 * transaction. So the first transaction of a turn begins IMMEDIATE; the ones after it in the same turn
 * run inside it, each in a savepoint, and a transaction that fails rolls back to its savepoint, undoing
 * only its own writes. One COMMIT ends the group at the end of the turn, after MAX_GROUP_SIZE
 * transactions, or before a statement outside any transaction (so that a statement never joins a group
 * and sees only committed data), and only
 * then does each of its transactions' commit settle: no caller hears "committed" before it is. If that
 * COMMIT fails, or SQLite ends the transaction on its own, every transaction of the group fails and
 * none of their writes is kept, as if each had failed its own COMMIT. A deferred constraint would fail
 * the whole group at COMMIT; mailotp's schema has none.
 *
 * The group holds the write lock only as long as its turn, as back-to-back transactions did: the
 * checkpointer's RESTART (sqlite-checkpointer.ts) waits for it between turns, where it waited before. A
 * transaction that awaits something other than its statements (no store code does) holds the connection,
 * and its group, across turns, as one transaction held the connection before.
 */
export class SqliteScheduler {
  readonly #connection: DatabaseConnection;
  readonly #control: TransactionControl;
  readonly #budgetMilliseconds: number;
  readonly #now: () => number;
  readonly #waiting: Array<(lease: Lease) => void> = [];
  readonly #free: Lease[] = [];
  #isScheduled = false;
  /** The open group's transactions that committed into it; undefined while no group is open. */
  #group: Member[] | undefined;

  constructor(connection: DatabaseConnection, control: TransactionControl, budgetMilliseconds: number, now: () => number = () => performance.now()) {
    this.#connection = connection;
    this.#control = control;
    this.#budgetMilliseconds = budgetMilliseconds;
    this.#now = now;
  }

  acquire(): Promise<DatabaseConnection> {
    return new Promise((resolve) => {
      this.#waiting.push(resolve);
      if (!this.#isScheduled) {
        this.#isScheduled = true;
        setImmediate(this.#turn);
      }
    });
  }

  readonly #turn = (): void => {
    void this.#runTurn();
  };

  async #runTurn(): Promise<void> {
    const startedAt = this.#now();
    // Callers who ask during this turn (the next step of a request served in it) wait for the next one.
    const inThisTurn = this.#waiting.length;
    for (let served = 0; served < inThisTurn; served += 1) {
      if (served > 0 && this.#now() - startedAt >= this.#budgetMilliseconds) break;
      if (this.#group && this.#group.length >= MAX_GROUP_SIZE) this.#commitGroup();
      const lease = this.#free.pop() ?? new Lease(this);
      lease.inTransaction = lease.isSavepoint = lease.isFinished = lease.isReleased = false;
      const finished = new Promise<void>((resolve) => {
        lease.onFinish = resolve;
      });
      this.#waiting.shift()!(lease);
      await finished;
    }
    this.#commitGroup();
    if (this.#waiting.length > 0) setImmediate(this.#turn);
    else this.#isScheduled = false;
  }

  executeQuery<R>(lease: Lease, query: CompiledQuery): Promise<QueryResult<R>> {
    if (!lease.inTransaction) this.#commitGroup();
    return this.#connection.executeQuery<R>(query);
  }

  streamQuery<R>(lease: Lease, query: CompiledQuery, chunkSize?: number): AsyncIterableIterator<QueryResult<R>> {
    if (!lease.inTransaction) this.#commitGroup();
    return this.#connection.streamQuery<R>(query, chunkSize);
  }

  async begin(lease: Lease): Promise<void> {
    if (this.#group && !this.#control.inTransaction()) this.#failGroup(groupLost());
    // No group, yet a transaction is open: a failed ROLLBACK left it. No one's work in it is pending.
    if (!this.#group && this.#control.inTransaction()) this.#control.run('rollback');
    if (this.#group) {
      this.#control.run('savepoint mailotp_group');
      lease.isSavepoint = true;
    } else {
      // Outside any transaction: a lock held by another connection is waited for on a timer (sqlite-dialect.ts).
      await this.#connection.executeQuery(BEGIN_IMMEDIATE);
      this.#group = [];
      lease.isSavepoint = false;
    }
    lease.inTransaction = true;
  }

  async commit(lease: Lease): Promise<void> {
    if (!this.#control.inTransaction()) {
      lease.inTransaction = false;
      const error = groupLost();
      this.#failGroup(error);
      throw error;
    }
    // A failure here leaves the lease in its transaction, and Kysely rolls it back.
    if (lease.isSavepoint) this.#control.run('release mailotp_group');
    lease.inTransaction = false;
    const committed = new Promise<void>((resolve, reject) => this.#group!.push({ resolve, reject }));
    this.#finish(lease);
    return committed;
  }

  async rollback(lease: Lease): Promise<void> {
    // Committed into a group whose COMMIT failed: nothing of its own is left to undo.
    if (!lease.inTransaction) return;
    lease.inTransaction = false;
    if (!this.#control.inTransaction()) {
      this.#failGroup(groupLost());
      return;
    }
    try {
      if (lease.isSavepoint) {
        this.#control.run('rollback to mailotp_group');
        this.#control.run('release mailotp_group');
      } else {
        // The group's first transaction: nothing has committed into the group yet.
        this.#group = undefined;
        this.#control.run('rollback');
      }
    } catch (error) {
      // What is left of this transaction cannot be told apart from the group's: none of it is kept.
      this.#failGroup(error);
      throw error;
    }
  }

  release(lease: Lease): void {
    if (lease.isReleased) return;
    lease.isReleased = true;
    // Released inside its transaction, without a commit or rollback: undo what is left of it before anyone else runs.
    if (lease.inTransaction) {
      lease.inTransaction = false;
      this.#failGroup(groupLost());
    }
    this.#finish(lease);
    this.#free.push(lease);
  }

  #finish(lease: Lease): void {
    if (lease.isFinished) return;
    lease.isFinished = true;
    lease.onFinish();
  }

  #commitGroup(): void {
    const members = this.#group;
    if (!members) return;
    this.#group = undefined;
    try {
      this.#control.run('commit');
    } catch (error) {
      this.#rollbackAll(members, error);
      return;
    }
    for (const member of members) member.resolve();
  }

  #failGroup(error: unknown): void {
    const members = this.#group ?? [];
    this.#group = undefined;
    this.#rollbackAll(members, error);
  }

  /** Never throws: it runs at the end of a turn, where nothing could catch it. */
  #rollbackAll(members: readonly Member[], error: unknown): void {
    try {
      if (this.#control.inTransaction()) this.#control.run('rollback');
    } catch {
      // The transaction stays open; the next begin rolls it back before it starts its own.
    }
    for (const member of members) member.reject(error);
  }
}

export type { Lease };

import { mkdirSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, resolve } from 'node:path';
import SQLite from 'better-sqlite3';
import { Kysely, PostgresDialect, type SqliteDatabase, type SqliteStatement } from 'kysely';
import pg from 'pg';
import { OtpError } from '../core/errors.js';
import type { Database, DialectName } from './schema.js';
import { startSqliteCheckpointer } from './sqlite-checkpointer.js';
import { StatementNames, withNamedStatements } from './named-statements.js';
import { MailotpSqliteDialect } from './sqlite-dialect.js';

export interface OpenDatabase {
  db: Kysely<Database>;
  dialect: DialectName;
  close(): Promise<void>;
}

/** pg returns int8 as text by default; our int8 columns are epoch milliseconds and ids, safe as Number. */
const INT8_OID = 20;
function pgTypes(): pg.CustomTypesConfig {
  return {
    getTypeParser: ((oid: number, format?: string) =>
      oid === INT8_OID ? (value: string) => Number(value) : pg.types.getTypeParser(oid, format as never)) as pg.CustomTypesConfig['getTypeParser'],
  };
}

/**
 * A function that builds one result row as an object literal from better-sqlite3's raw row (an array in
 * the statement's column order). Column names come from our own SQL; JSON.stringify quotes each as a
 * property name, and a name that appears twice keeps its last value, as better-sqlite3's own rows do.
 */
function rowBuilder(columnNames: readonly string[]): (values: unknown[]) => Record<string, unknown> {
  return new Function('v', `return {${columnNames.map((name, index) => `${JSON.stringify(name)}: v[${index}]`).join(', ')}};`) as (values: unknown[]) => Record<string, unknown>;
}

/**
 * A reading statement whose rows are built in JavaScript. better-sqlite3 builds each row object in C++,
 * one property at a time: for the 40 columns of the login read that was a third of the statement's
 * cost (41 us against 27 us from raw rows, measured on a copy of a benchmark database). Raw rows are
 * arrays; one object literal per statement turns them into rows of a single shape, which also keeps the
 * code that reads them monomorphic.
 */
function withObjectRows(statement: SQLite.Statement): SqliteStatement {
  statement.raw(true);
  const describe = (): { width: number; build: (values: unknown[]) => Record<string, unknown> } => {
    const names = statement.columns().map((column) => column.name);
    return { width: names.length, build: rowBuilder(names) };
  };
  let columns = describe();
  // SQLite prepares a statement again when the schema changes (a migration run by another node adds or
  // drops a column under `select *`), and its raw rows change width: describe the columns again.
  const rowOf = (values: unknown[]): Record<string, unknown> => {
    if (values.length !== columns.width) columns = describe();
    return columns.build(values);
  };
  return {
    reader: true,
    all: (parameters) => (statement.all(parameters) as unknown[][]).map(rowOf),
    run: (parameters) => statement.run(parameters),
    *iterate(parameters) {
      for (const values of statement.iterate(parameters) as IterableIterator<unknown[]>) yield rowOf(values);
    },
  };
}

/**
 * Kysely prepares every query anew, and preparing costs more than running a small indexed query
 * (profiled: ~11 % of all CPU under load). Our queries come from a fixed set of builders, so their SQL
 * texts repeat: keep each prepared statement. Kysely runs one query at a time on this connection, so a
 * cached statement is never used twice at once. The bound keeps a runaway set of texts from growing it.
 */
function withStatementCache(database: SQLite.Database, maxStatements = 500): SqliteDatabase {
  const statements = new Map<string, SqliteStatement>();
  return {
    close: () => database.close(),
    prepare(sql: string): SqliteStatement {
      let statement = statements.get(sql);
      if (!statement) {
        const prepared = database.prepare(sql);
        statement = prepared.reader ? withObjectRows(prepared) : prepared;
        if (statements.size >= maxStatements) statements.delete(statements.keys().next().value!);
        statements.set(sql, statement);
      }
      return statement;
    },
  };
}

export function openSqlite(path: string): OpenDatabase {
  if (path !== ':memory:') mkdirSync(dirname(resolve(path)), { recursive: true });
  const database = new SQLite(path);
  // WAL lets readers run beside the writer; NORMAL is durable across process crashes in WAL mode.
  database.pragma('journal_mode = WAL');
  database.pragma('synchronous = NORMAL');
  database.pragma('foreign_keys = ON');
  // Never wait for a lock inside SQLite, asleep on the event loop: the dialect waits on a timer instead.
  database.pragma('busy_timeout = 0');
  const dialect = new MailotpSqliteDialect({ database: withStatementCache(database), isInTransaction: () => database.inTransaction });
  if (path === ':memory:') {
    const db = new Kysely<Database>({ dialect });
    return { db, dialect: 'sqlite', close: () => db.destroy() };
  }
  // Checkpoints happen off the event loop (see sqlite-checkpointer.ts); this is only a safety net in
  // case that thread is gone.
  database.pragma('wal_autocheckpoint = 20000');
  const checkpointer = startSqliteCheckpointer(resolve(path), createRequire(import.meta.url).resolve('better-sqlite3'));
  const db = new Kysely<Database>({ dialect });
  return {
    db,
    dialect: 'sqlite',
    async close() {
      await checkpointer.stop();
      await db.destroy();
    },
  };
}

export interface PostgresOptions {
  /** The pool's size: MAILOTP_DATABASE_POOL_SIZE, whose default and reasons live in load-config.ts. */
  maxConnections: number;
  /**
   * Run statements as named prepared statements (the default). Off for a pooler that cannot keep them,
   * such as PgBouncer before 1.21 in transaction mode.
   */
  preparedStatements?: boolean;
}

export function openPostgres(connectionString: string, { maxConnections, preparedStatements = true }: PostgresOptions): OpenDatabase {
  const pool = new pg.Pool({ connectionString, max: maxConnections, types: pgTypes() });
  // An idle client's connection can die (failover, restart, admin kill). Without a listener that error
  // would crash the process; the pool drops the client and the next query opens a new connection.
  pool.on('error', () => undefined);
  const db = new Kysely<Database>({ dialect: new PostgresDialect({ pool: preparedStatements ? withNamedStatements(pool, new StatementNames()) : pool }) });
  return { db, dialect: 'postgres', close: () => db.destroy() };
}

/** `sqlite:./path.db`, `sqlite::memory:` or `postgres://...` / `postgresql://...`. */
export function openDatabase(url: string, postgres: PostgresOptions): OpenDatabase {
  if (url.startsWith('sqlite:')) return openSqlite(url.slice('sqlite:'.length));
  if (url.startsWith('postgres://') || url.startsWith('postgresql://')) return openPostgres(url, postgres);
  throw new OtpError('CONFIG_INVALID', { detail: 'database url must start with sqlite: or postgres://' });
}

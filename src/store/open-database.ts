import { mkdirSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, resolve } from 'node:path';
import SQLite from 'better-sqlite3';
import { Kysely, PostgresDialect, SqliteDialect, type Driver, type SqliteDatabase } from 'kysely';
import pg from 'pg';
import { OtpError } from '../core/errors.js';
import type { Database, DialectName } from './schema.js';
import { startSqliteCheckpointer } from './sqlite-checkpointer.js';
import { StatementNames, withNamedStatements } from './named-statements.js';
import { nextTurn } from './next-turn.js';

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
 * Kysely prepares every query anew, and preparing costs more than running a small indexed query
 * (profiled: ~11 % of all CPU under load). Our queries come from a fixed set of builders, so their SQL
 * texts repeat: keep each prepared statement. Kysely runs one query at a time on this connection, so a
 * cached statement is never used twice at once. The bound keeps a runaway set of texts from growing it.
 */
function withStatementCache(database: SQLite.Database, maxStatements = 500): SqliteDatabase {
  const statements = new Map<string, SQLite.Statement>();
  return {
    close: () => database.close(),
    prepare(sql: string): SQLite.Statement {
      let statement = statements.get(sql);
      if (!statement) {
        statement = database.prepare(sql);
        if (statements.size >= maxStatements) statements.delete(statements.keys().next().value!);
        statements.set(sql, statement);
      }
      return statement;
    },
  };
}

/**
 * better-sqlite3 runs each statement synchronously, so a request's whole chain of statements used to run
 * in the turn of the event loop that started it: under saturation one turn served every ready request
 * to the end (64 transaction_id answers at c=64, 60 ms on a slow machine) while timers, new connections
 * and health checks waited. Taking the connection in the next turn (setImmediate) lets each turn run
 * one statement or transaction per request. The connection itself is still taken and released as before,
 * so statements never interleave inside a transaction.
 */
class TurnTakingSqliteDialect extends SqliteDialect {
  override createDriver(): Driver {
    const driver = super.createDriver();
    const acquireConnection = driver.acquireConnection.bind(driver);
    driver.acquireConnection = async () => {
      await nextTurn();
      return acquireConnection();
    };
    return driver;
  }
}

export function openSqlite(path: string): OpenDatabase {
  if (path !== ':memory:') mkdirSync(dirname(resolve(path)), { recursive: true });
  const database = new SQLite(path);
  // WAL lets readers run beside the writer; NORMAL is durable across process crashes in WAL mode.
  database.pragma('journal_mode = WAL');
  database.pragma('synchronous = NORMAL');
  database.pragma('foreign_keys = ON');
  database.pragma('busy_timeout = 5000');
  if (path === ':memory:') {
    const db = new Kysely<Database>({ dialect: new TurnTakingSqliteDialect({ database: withStatementCache(database) }) });
    return { db, dialect: 'sqlite', close: () => db.destroy() };
  }
  // Checkpoints happen off the event loop (see sqlite-checkpointer.ts); this is the fallback threshold,
  // which continuous writes do reach (the known limit described there).
  database.pragma('wal_autocheckpoint = 20000');
  const checkpointer = startSqliteCheckpointer(resolve(path), createRequire(import.meta.url).resolve('better-sqlite3'));
  const db = new Kysely<Database>({ dialect: new TurnTakingSqliteDialect({ database: withStatementCache(database) }) });
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
  maxConnections?: number;
  /**
   * Run statements as named prepared statements (the default). Off for a pooler that cannot keep them,
   * such as PgBouncer before 1.21 in transaction mode.
   */
  preparedStatements?: boolean;
}

export function openPostgres(connectionString: string, { maxConnections = 10, preparedStatements = true }: PostgresOptions = {}): OpenDatabase {
  const pool = new pg.Pool({ connectionString, max: maxConnections, types: pgTypes() });
  // An idle client's connection can die (failover, restart, admin kill). Without a listener that error
  // would crash the process; the pool drops the client and the next query opens a new connection.
  pool.on('error', () => undefined);
  const db = new Kysely<Database>({ dialect: new PostgresDialect({ pool: preparedStatements ? withNamedStatements(pool, new StatementNames()) : pool }) });
  return { db, dialect: 'postgres', close: () => db.destroy() };
}

/** `sqlite:./path.db`, `sqlite::memory:` or `postgres://...` / `postgresql://...`. */
export function openDatabase(url: string, postgres: PostgresOptions = {}): OpenDatabase {
  if (url.startsWith('sqlite:')) return openSqlite(url.slice('sqlite:'.length));
  if (url.startsWith('postgres://') || url.startsWith('postgresql://')) return openPostgres(url, postgres);
  throw new OtpError('CONFIG_INVALID', { detail: 'database url must start with sqlite: or postgres://' });
}

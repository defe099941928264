import type { PostgresPool, PostgresPoolClient } from 'kysely';
import type pg from 'pg';

/** Only plain DML is prepared: never DDL (migrations), transaction control, LISTEN or SET. */
const PREPARABLE = /^\s*(?:select|insert|update|delete|with)\b/i;
const TRANSACTION_START = /^\s*(?:begin|start\s+transaction)\b/i;
const TRANSACTION_END = /^\s*(?:commit|rollback|end|abort)\b/i;

/**
 * A prepared statement the server can no longer run as it was prepared: its plan was cached before a
 * schema change altered its result (0A000, e.g. `select *` after a migration added a column on a rolling
 * upgrade), or the session does not have it any more (26000: DISCARD ALL, a pooler that switched server
 * connections). Either way nothing ran, so the statement can be sent again, prepared anew.
 */
export function isStalePreparedStatement(error: unknown): boolean {
  const { code, message } = (error ?? {}) as { code?: unknown; message?: unknown };
  return code === '26000' || (code === '0A000' && /cached plan must not change result type/i.test(String(message)));
}

/**
 * Names for the SQL texts this process runs, shared by all connections: a connection parses a named
 * statement on its first use and afterwards sends only the arguments. `renew` starts a new generation of
 * names, so every connection prepares every statement anew (the old ones stay in their sessions, unused,
 * until those connections close). At most `limit` texts per generation get a name; the rest stay unnamed.
 */
export class StatementNames {
  readonly #names = new Map<string, string>();
  #generation = 1;

  constructor(readonly limit = 500) {}

  nameFor(sql: string): string | undefined {
    const known = this.#names.get(sql);
    if (known !== undefined) return known;
    if (this.#names.size >= this.limit || !PREPARABLE.test(sql)) return undefined;
    const name = `mailotp_${this.#generation}_${this.#names.size + 1}`;
    this.#names.set(sql, name);
    return name;
  }

  renew(): void {
    this.#names.clear();
    this.#generation += 1;
  }
}

/**
 * A pool for Kysely's PostgresDialect that runs statements as named (server-side prepared) statements.
 * Kysely sends every query unnamed, so PostgreSQL parses, analyses and plans each one anew: about 60 % of
 * the backend's time for mailotp's small indexed statements (measured with log_min_duration_statement:
 * parse 1.4 + bind 1.9 of 5.5 ms per full flow). Named, a statement is parsed once per connection, and
 * after five runs PostgreSQL keeps a generic plan when it costs no more than custom ones.
 *
 * A stale statement (see isStalePreparedStatement) renews all names; outside a transaction the statement
 * is sent once more under its new name, inside one the error ends the transaction and inTransaction runs
 * it again.
 */
export function withNamedStatements(pool: pg.Pool, names: StatementNames): PostgresPool {
  return {
    async connect(): Promise<PostgresPoolClient> {
      const client = await pool.connect();
      let isInTransaction = false;
      const run = async (sql: string, parameters: readonly unknown[]): Promise<pg.QueryResult> => {
        if (TRANSACTION_START.test(sql)) isInTransaction = true;
        else if (TRANSACTION_END.test(sql)) isInTransaction = false;
        const name = names.nameFor(sql);
        if (name === undefined) return client.query(sql, parameters as unknown[]);
        try {
          return await client.query({ name, text: sql, values: parameters as unknown[] });
        } catch (error) {
          if (!isStalePreparedStatement(error)) throw error;
          names.renew();
          if (isInTransaction) throw error;
          return client.query({ name: names.nameFor(sql), text: sql, values: parameters as unknown[] });
        }
      };
      return {
        query: ((sqlOrCursor: unknown, parameters: readonly unknown[]) =>
          typeof sqlOrCursor === 'string' ? run(sqlOrCursor, parameters) : client.query(sqlOrCursor as never)) as unknown as PostgresPoolClient['query'],
        release: (destroy?: boolean) => client.release(destroy),
      };
    },
    end: () => pool.end(),
  };
}

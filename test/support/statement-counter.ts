import type { KyselyPlugin } from 'kysely';

export interface StatementCounter {
  /** Give it to `db.withPlugin(...)`: every statement run through that instance counts. */
  plugin: KyselyPlugin;
  count(): number;
  reset(): void;
}

/**
 * Counts the statements run through a Kysely instance (transformResult sees every executed query).
 * Kysely runs BEGIN and COMMIT outside its plugins, so a transaction counts as its statements.
 */
export function statementCounter(): StatementCounter {
  let statements = 0;
  return {
    plugin: { transformQuery: ({ node }) => node, transformResult: async ({ result }) => ((statements += 1), result) },
    count: () => statements,
    reset: () => void (statements = 0),
  };
}

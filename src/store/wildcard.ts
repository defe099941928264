import { sql, type RawBuilder } from 'kysely';

/**
 * privacyIDEA's `*` wildcard as SQL LIKE. The pattern's own LIKE metacharacters (% _ and backslash) are taken
 * literally, which needs the ESCAPE clause: SQLite has no default escape character.
 */
export function matchesWildcard(column: 'serial' | 'login', pattern: string): RawBuilder<boolean> {
  const like = pattern.replace(/[\\%_]/g, (char) => `\\${char}`).replace(/\*/g, '%');
  return sql<boolean>`${sql.ref(column)} like ${like} escape '\\'`;
}

/** SQLite (SQLITE_CONSTRAINT_UNIQUE / _PRIMARYKEY) and PostgreSQL (23505) spell a duplicate key differently. */
export function isUniqueViolation(error: unknown): boolean {
  const code = (error as { code?: unknown } | null)?.code;
  return code === '23505' || code === 'SQLITE_CONSTRAINT_UNIQUE' || code === 'SQLITE_CONSTRAINT_PRIMARYKEY';
}

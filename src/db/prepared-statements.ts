/** The most statements one connection prepares; statements past it run unprepared. */
export const maxPreparedPerConnection = 200;
/** Statements with more parameters than this (batches whose arity varies) run unprepared. */
export const maxPreparedParameters = 32;

/**
 * Whether a statement is prepared once per connection and then only bound and executed:
 * PostgreSQL then parses and plans it once instead of on every call, which was about a fifth of
 * its CPU per secret write. Only parameterized, single statements (PostgreSQL refuses parameters
 * in a multi-statement text) of a bounded arity, and only those that name their result columns:
 * a prepared `SELECT *` or `RETURNING *` fails with "cached plan must not change result type"
 * once another replica's migration adds a column to its table, and would keep failing on that
 * connection. Columns a statement names survive such a migration.
 */
export function isPreparable(text: string, parameterCount: number): boolean {
  return parameterCount > 0 && parameterCount <= maxPreparedParameters && !text.replaceAll("count(*)", "").includes("*");
}

import pg from "pg";

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

/**
 * A `pg` client that prepares the statements `isPreparable` admits, each under a name of its own
 * on this connection, up to `maxPreparedPerConnection` of them. Everything else (text without
 * parameters, cursors, query objects) goes to `pg` as given.
 */
export class PreparingClient extends pg.Client {
  readonly #names = new Map<string, string>();

  // pg's overloads all come here; only (text, values[, callback]) is ever rewritten.
  override query(config: any, values?: any, callback?: any): any {
    if (typeof config === "string" && Array.isArray(values) && isPreparable(config, values.length)) {
      let name = this.#names.get(config);
      if (name === undefined && this.#names.size < maxPreparedPerConnection) this.#names.set(config, (name = `scaivault_${this.#names.size + 1}`));
      if (name !== undefined) return super.query({ name, text: config, values }, callback);
    }
    return super.query(config, values, callback);
  }
}

import pg from "pg";
import { isPreparable, maxPreparedPerConnection } from "./prepared-statements.js";

/** What the service's `pg` clients add to pg's own options (the pool passes its options to each client). */
export interface ServiceClientOptions extends pg.ClientConfig {
  /** Prepare the statements `isPreparable` admits, once per connection (default false). */
  prepareStatements?: boolean;
}

/** The error pg gives a query that got no answer within `query_timeout`. */
const readTimeoutMessage = "Query read timeout";

/**
 * The `pg` client of the service's pool. Two things beyond pg's own:
 *
 * - With `prepareStatements`, it prepares each statement `isPreparable` admits under a name of its
 *   own on this connection, up to `maxPreparedPerConnection` of them; PostgreSQL then parses and
 *   plans it once instead of on every call. Everything else goes to pg as given.
 * - A statement that got no answer within `query_timeout` (a frozen server, a partition: nothing
 *   drops the connection) abandons the connection: pg alone would leave the dead statement in
 *   place, so the transaction's ROLLBACK would queue behind it and wait as long again. The socket
 *   is destroyed and the client marked not queryable, so the ROLLBACK fails at once and the pool
 *   discards the client on release instead of handing it out again.
 */
export class ServiceClient extends pg.Client {
  readonly #names = new Map<string, string>();
  readonly #prepare: boolean;

  constructor(config: ServiceClientOptions = {}) {
    super(config);
    this.#prepare = config.prepareStatements === true;
  }

  // pg's overloads all come here; only (text, values[, callback]) is ever rewritten.
  override query(config: any, values?: any, callback?: any): any {
    const named = this.#namedStatement(config, values);
    const result = named ? super.query(named, callback) : super.query(config, values, callback);
    if (result && typeof result.then === "function") {
      // Runs before the caller's own handlers (registered first), so its ROLLBACK already fails fast.
      result.then(undefined, (err: unknown) => {
        if (err instanceof Error && err.message === readTimeoutMessage) this.#abandon();
      });
    }
    return result;
  }

  /** The query naming this connection's prepared statement for `text`, or undefined when it runs unprepared. */
  #namedStatement(text: unknown, values: unknown): pg.QueryConfig | undefined {
    if (!this.#prepare || typeof text !== "string" || !Array.isArray(values) || !isPreparable(text, values.length)) return undefined;
    let name = this.#names.get(text);
    if (name === undefined && this.#names.size < maxPreparedPerConnection) this.#names.set(text, (name = `scaivault_${this.#names.size + 1}`));
    return name === undefined ? undefined : { name, text, values };
  }

  #abandon() {
    const self = this as unknown as { _queryable: boolean; connection: { stream: { destroy(): void } } };
    self._queryable = false;
    self.connection.stream.destroy();
  }
}

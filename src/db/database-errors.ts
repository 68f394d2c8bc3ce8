import { ScaiVaultError } from "../errors.js";

// What a database error means for the caller. Two kinds must never reach a client as `internal`:
// the database being unreachable (the call may succeed later: `unavailable`) and input that
// PostgreSQL refuses to store (the caller must change it: `invalid_request`).

/** Socket errors of a connection that could not be made or was cut. */
const networkCodes = new Set(["ECONNREFUSED", "ECONNRESET", "EPIPE", "ETIMEDOUT", "EHOSTUNREACH", "ENETUNREACH", "ENOTFOUND", "EAI_AGAIN"]);
/** pg's own errors for a connection that is gone or never came (they carry no code). */
const lostConnection = /^(Connection terminated|Query read timeout|timeout exceeded when trying to connect|Client has encountered a connection error|Client was closed and is not queryable|Connection ended)/i;

/** The contract error a database error stands for, or undefined when it is a genuine internal failure. */
export function contractErrorOfDatabase(err: unknown): ScaiVaultError | undefined {
  for (let e = err, depth = 0; e instanceof Error && depth < 4; e = e.cause, depth++) {
    const code = (e as { code?: unknown }).code;
    if (typeof code === "string") {
      // SQLSTATE class 08: connection exception; 57P01-57P03: shutting down, crashed, not accepting
      // connections yet; class 53: out of connections or resources on the server.
      if (networkCodes.has(code) || /^(08|53)...$/.test(code) || /^57P0[123]$/.test(code)) {
        return new ScaiVaultError("unavailable", "the database is unavailable; retry shortly", { cause: e });
      }
      // 57014: the statement was cancelled at its deadline (statement_timeout); 25P03: the server
      // ended a transaction left idle past its deadline.
      if (code === "57014" || code === "25P03") {
        return new ScaiVaultError("unavailable", "the database did not answer in time; retry shortly", { cause: e });
      }
      // Class 22: data exception (a NUL in text, a value out of range, bad encoding); 54000: a
      // value too large for an index. The input caused it, so it is the caller's to fix.
      if (/^22...$/.test(code) || code === "54000") {
        return new ScaiVaultError("invalid_request", "a value in the request cannot be stored", { cause: e });
      }
    }
    if (lostConnection.test(e.message)) return new ScaiVaultError("unavailable", "the database is unavailable; retry shortly", { cause: e });
  }
  return undefined;
}

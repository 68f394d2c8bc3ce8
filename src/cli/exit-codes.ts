import type { ScaiVaultErrorCode } from "../../clients/typescript/src/index.js";

/** The exit codes of `scaivault`, stable for scripts (documented in the README and in `--help`). */
export const exitCodes = {
  ok: 0,
  /** Bad arguments, an unknown command, missing input. */
  usage: 1,
  /** The secret, version, policy or webhook does not exist (or the secret expired). */
  notFound: 2,
  /** Not logged in, the token was refused (`unauthenticated`), or it lacks the scope (`access_denied`). */
  auth: 3,
  /** `secret_exists`, `name_conflict`, `version_conflict`, `failed_precondition`. */
  conflict: 4,
  /** The service refused the request as invalid (`invalid_request`, `invalid_path`, `invalid_duration`, `payload_too_large`). */
  invalid: 5,
  /** The service could not answer (`unavailable`, `internal`, `rate_limited`, `unimplemented`, timeouts, network errors). */
  unavailable: 6,
} as const;

/** The exit code for an error code of the contract. */
export function exitCodeOf(code: ScaiVaultErrorCode): number {
  if (code === "not_found" || code.endsWith("_not_found") || code === "secret_expired") return exitCodes.notFound;
  if (code === "unauthenticated" || code === "access_denied") return exitCodes.auth;
  if (code === "secret_exists" || code === "name_conflict" || code === "version_conflict" || code === "failed_precondition") return exitCodes.conflict;
  if (code.startsWith("invalid_") || code === "payload_too_large" || code === "method_not_allowed") return exitCodes.invalid;
  return exitCodes.unavailable;
}

/** The exit codes as `--help` lists them. */
export const exitCodesHelp = `Exit codes:
  0  ok
  1  usage: bad arguments, unknown command, missing input
  2  not found: no such secret, version, policy or webhook (or the secret expired)
  3  auth: not logged in, token refused (unauthenticated) or missing scope (access_denied)
  4  conflict: secret_exists, name_conflict, version_conflict, failed_precondition
  5  invalid: the service refused the request (invalid_request, invalid_path, invalid_duration, payload_too_large)
  6  unavailable: the service could not answer (unavailable, internal, rate_limited, unimplemented, network)`;

import { Code, ConnectError } from "@connectrpc/connect";
import { ErrorInfoSchema } from "./gen/google/rpc/error_details_pb.js";

/** Every error code the service sends, with the HTTP status it has over REST. */
const serviceCodes = {
  invalid_request: 400,
  invalid_path: 400,
  invalid_duration: 400,
  unauthenticated: 401,
  access_denied: 403,
  not_found: 404,
  secret_not_found: 404,
  version_not_found: 404,
  rotation_policy_not_found: 404,
  secret_policy_not_found: 404,
  webhook_not_found: 404,
  notification_channel_not_found: 404,
  tenant_not_found: 404,
  method_not_allowed: 405,
  secret_exists: 409,
  name_conflict: 409,
  version_conflict: 409,
  failed_precondition: 409,
  secret_expired: 410,
  payload_too_large: 413,
  rate_limited: 429,
  internal: 500,
  unimplemented: 501,
  unavailable: 503,
} as const;

/** Codes raised on the client side only: the call never got an answer, or a webhook failed verification. */
const clientCodes = ["deadline_exceeded", "canceled", "unknown", "invalid_signature", "invalid_webhook_secret"] as const;

/**
 * The `code` of a {@link ScaiVaultError}: the contract's code string (`secret_not_found`,
 * `version_conflict`, ...) or one of the client-side codes. Open-ended so that a newer server's
 * codes still type-check.
 */
export type ScaiVaultErrorCode = keyof typeof serviceCodes | (typeof clientCodes)[number] | (string & {});

/** Used when a server (or a proxy in front of it) answered without an ErrorInfo reason. */
const fromStatus: Partial<Record<Code, ScaiVaultErrorCode>> = {
  [Code.InvalidArgument]: "invalid_request",
  [Code.Unauthenticated]: "unauthenticated",
  [Code.PermissionDenied]: "access_denied",
  [Code.NotFound]: "not_found",
  [Code.AlreadyExists]: "name_conflict",
  [Code.Aborted]: "version_conflict",
  [Code.FailedPrecondition]: "invalid_request",
  [Code.ResourceExhausted]: "rate_limited",
  [Code.Unimplemented]: "unimplemented",
  [Code.Unavailable]: "unavailable",
  [Code.Internal]: "internal",
  [Code.DataLoss]: "internal",
  [Code.DeadlineExceeded]: "deadline_exceeded",
  [Code.Canceled]: "canceled",
};

/**
 * The one error type of the client. `code` is the contract's code string, the same whichever
 * protocol carried the call (read from the `google.rpc.ErrorInfo` reason the service sends).
 */
export class ScaiVaultError extends Error {
  override readonly name = "ScaiVaultError";
  /** The contract's code string: switch on it. */
  readonly code: ScaiVaultErrorCode;
  /** The gRPC / Connect status code of the answer. */
  readonly grpcCode: Code;
  /** The service's request id (`x-request-id`), to quote when asking its operators. */
  readonly requestId: string | undefined;

  constructor(code: ScaiVaultErrorCode, message: string, options: { grpcCode?: Code; requestId?: string; cause?: unknown } = {}) {
    super(message, { cause: options.cause });
    this.code = code;
    this.grpcCode = options.grpcCode ?? Code.Unknown;
    this.requestId = options.requestId;
  }

  /** The HTTP status the code has in the REST API (0 for client-side codes). */
  get httpStatus(): number {
    return (serviceCodes as Record<string, number>)[this.code] ?? 0;
  }

  /** True for `not_found` and every `*_not_found` code. */
  get isNotFound(): boolean {
    return this.code === "not_found" || this.code.endsWith("_not_found");
  }

  /** True when trying again later may succeed (the service was unreachable, overloaded or failed). */
  get isTransient(): boolean {
    return ["unavailable", "rate_limited", "internal", "deadline_exceeded", "unknown"].includes(this.code);
  }

  /** Converts anything a call threw: a ConnectError (any protocol), a ScaiVaultError, or something else. */
  static from(err: unknown): ScaiVaultError {
    if (err instanceof ScaiVaultError) return err;
    const connectError = ConnectError.from(err);
    const reason = connectError.findDetails(ErrorInfoSchema)[0]?.reason;
    const code = reason || (isNetworkFailure(err) ? "unavailable" : fromStatus[connectError.code]) || "unknown";
    return new ScaiVaultError(code, connectError.rawMessage, {
      grpcCode: connectError.code,
      requestId: connectError.metadata.get("x-request-id") ?? undefined,
      cause: err,
    });
  }
}

/** Node and undici error codes of a connection that failed or broke before an answer came. */
const networkCodes = /^(ECONNRESET|ECONNREFUSED|ECONNABORTED|EPIPE|ETIMEDOUT|ENOTFOUND|EAI_AGAIN|EHOSTUNREACH|ENETUNREACH|ERR_HTTP2_.*|ERR_STREAM_PREMATURE_CLOSE|UND_ERR_.*)$/;

/**
 * True when the call never got an answer because the connection failed (refused, reset, a
 * keep-alive socket the server had closed, fetch's network error). connect-node reports some of
 * these as `aborted` or `internal`, which would read as `version_conflict` or a server fault.
 */
function isNetworkFailure(err: unknown): boolean {
  for (let e: unknown = err, depth = 0; e instanceof Error && depth < 8; e = e.cause, depth++) {
    const code = (e as { code?: unknown }).code;
    if (typeof code === "string" && networkCodes.test(code)) return true;
    if (/socket hang up|fetch failed|failed to fetch|networkerror|load failed/i.test(e.message)) return true;
  }
  return false;
}

/** Type guard: `err` is a ScaiVaultError, with the given code when one is given. */
export function isScaiVaultError(err: unknown, code?: ScaiVaultErrorCode): err is ScaiVaultError {
  return err instanceof ScaiVaultError && (code === undefined || err.code === code);
}

import { Code, ConnectError } from "@connectrpc/connect";
import { ErrorInfoSchema } from "../gen/google/rpc/error_details_pb.js";

/** The error codes of the contract, each with its HTTP status and gRPC code. */
export const errorCodes = {
  invalid_request: { http: 400, grpc: Code.InvalidArgument },
  invalid_path: { http: 400, grpc: Code.InvalidArgument },
  invalid_duration: { http: 400, grpc: Code.InvalidArgument },
  unauthenticated: { http: 401, grpc: Code.Unauthenticated },
  access_denied: { http: 403, grpc: Code.PermissionDenied },
  not_found: { http: 404, grpc: Code.NotFound },
  secret_not_found: { http: 404, grpc: Code.NotFound },
  version_not_found: { http: 404, grpc: Code.NotFound },
  rotation_policy_not_found: { http: 404, grpc: Code.NotFound },
  secret_policy_not_found: { http: 404, grpc: Code.NotFound },
  webhook_not_found: { http: 404, grpc: Code.NotFound },
  notification_channel_not_found: { http: 404, grpc: Code.NotFound },
  tenant_not_found: { http: 404, grpc: Code.NotFound },
  method_not_allowed: { http: 405, grpc: Code.Unimplemented },
  secret_exists: { http: 409, grpc: Code.AlreadyExists },
  name_conflict: { http: 409, grpc: Code.AlreadyExists },
  version_conflict: { http: 409, grpc: Code.Aborted },
  failed_precondition: { http: 409, grpc: Code.FailedPrecondition },
  secret_expired: { http: 410, grpc: Code.FailedPrecondition },
  payload_too_large: { http: 413, grpc: Code.ResourceExhausted },
  rate_limited: { http: 429, grpc: Code.ResourceExhausted },
  internal: { http: 500, grpc: Code.Internal },
  deadline_exceeded: { http: 504, grpc: Code.DeadlineExceeded },
  unimplemented: { http: 501, grpc: Code.Unimplemented },
  unavailable: { http: 503, grpc: Code.Unavailable },
} as const;

export type ErrorCode = keyof typeof errorCodes;

/** The one error type of ScaiVault: a contract code, a safe message, and a cause kept for logs only. */
export class ScaiVaultError extends Error {
  override readonly name = "ScaiVaultError";
  constructor(
    readonly code: ErrorCode,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }

  get httpStatus(): number {
    return errorCodes[this.code].http;
  }
}

/** The domain string used in `google.rpc.ErrorInfo` details. */
export const errorDomain = "scaivault.v1";

const grpcToDefaultCode: Partial<Record<Code, ErrorCode>> = {
  [Code.InvalidArgument]: "invalid_request",
  [Code.Unauthenticated]: "unauthenticated",
  [Code.PermissionDenied]: "access_denied",
  [Code.NotFound]: "not_found",
  [Code.AlreadyExists]: "name_conflict",
  [Code.Aborted]: "version_conflict",
  [Code.FailedPrecondition]: "invalid_request",
  [Code.ResourceExhausted]: "payload_too_large",
  [Code.Unimplemented]: "unimplemented",
  [Code.Unavailable]: "unavailable",
  [Code.DeadlineExceeded]: "deadline_exceeded",
  [Code.Canceled]: "unavailable",
};

/** Reads the contract code back from any error: our own, a ConnectError by its ErrorInfo or gRPC code, or unknown (internal). */
export function errorCodeOf(err: unknown): ErrorCode {
  if (err instanceof ScaiVaultError) return err.code;
  if (err instanceof ConnectError) {
    const info = err.findDetails(ErrorInfoSchema)[0];
    if (info && info.reason in errorCodes) return info.reason as ErrorCode;
    return grpcToDefaultCode[err.code] ?? "internal";
  }
  return "internal";
}

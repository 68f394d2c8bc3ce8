import { create } from "@bufbuild/protobuf";
import { ConnectError } from "@connectrpc/connect";
import type { UniversalServerRequest, UniversalServerResponse } from "@connectrpc/connect/protocol";
import { codeToHttpStatus, errorToJsonBytes } from "@connectrpc/connect/protocol-connect";
import { setTrailerStatus } from "@connectrpc/connect/protocol-grpc";
import { ErrorInfoSchema } from "../../gen/google/rpc/error_details_pb.js";
import { contractErrorOfDatabase } from "../db/database-errors.js";
import { errorCodeOf, errorCodes, errorDomain, ScaiVaultError, type ErrorCode } from "../errors.js";
import { jsonResponse } from "./rest-response.js";
import { singleChunkBody } from "./universal-io.js";

/**
 * The one place where an error becomes each protocol's answer: REST's status and JSON, Server-Sent
 * Events' error frame, Connect's and gRPC's status with an ErrorInfo, and the Vault dialect's
 * `{"errors": [...]}`. Every answer starts from `contractOf`, which masks an unknown error once:
 * it becomes `internal` with a fixed message, its cause handed to the caller's log (once, with the
 * request id) and never sent. Connect's own handlers serialize the ConnectError of
 * `connectErrorOf` (thrown by the error interceptor); the other answers are written here.
 */

/** The only message an `internal` error is ever sent with. */
export const internalErrorMessage = "internal error";

/** Logs the cause of an unknown error, once, when it is masked (the caller adds its request id). */
export type UnknownErrorLog = (cause: unknown) => void;

/** Errors this module masked already: their cause has been logged. */
const masked = new WeakSet<ScaiVaultError>();

/** Native gRPC and gRPC-web: errors travel as grpc-status, never as an HTTP status. */
const grpcContentType = /^application\/grpc(-web(-text)?)?(?:[+;]|$)/i;

/**
 * The contract error that any error stands for. Ours keep their code and message; a ConnectError
 * made by `connectErrorOf` carries its contract error; another ConnectError is read by its
 * ErrorInfo or its gRPC code; a database error that means "unavailable" or "bad input" becomes
 * that; anything else, and every `internal`, is masked.
 */
export function contractOf(err: unknown, log?: UnknownErrorLog): ScaiVaultError {
  if (err instanceof ScaiVaultError && (err.code !== "internal" || masked.has(err))) return err;
  if (err instanceof ConnectError) {
    if (err.cause instanceof ScaiVaultError && (masked.has(err.cause) || err.cause.code !== "internal")) return err.cause;
    const code = errorCodeOf(err);
    if (code !== "internal") return new ScaiVaultError(code, err.rawMessage, { cause: err });
    // An `internal` that already carries our ErrorInfo was masked and logged where it was made.
    return mask(err, err.findDetails(ErrorInfoSchema).length > 0 ? undefined : log);
  }
  // An unreachable database is `unavailable` and input PostgreSQL refuses is `invalid_request`, never `internal`.
  return contractErrorOfDatabase(err) ?? mask(err instanceof ScaiVaultError ? (err.cause ?? err) : err, log);
}

function mask(cause: unknown, log: UnknownErrorLog | undefined): ScaiVaultError {
  log?.(cause);
  const answer = new ScaiVaultError("internal", internalErrorMessage, { cause });
  masked.add(answer);
  return answer;
}

/** The `google.rpc.ErrorInfo` detail of a contract code, with the request id so a support ticket can be matched to the log. */
export function errorInfoOf(code: ErrorCode, requestId?: string) {
  const metadata: Record<string, string> = requestId ? { request_id: requestId } : {};
  return { desc: ErrorInfoSchema, value: create(ErrorInfoSchema, { reason: code, domain: errorDomain, metadata }) };
}

/**
 * Any error as the ConnectError that Connect and gRPC send: the contract code's gRPC code (a
 * ConnectError keeps its own, so a deadline stays DEADLINE_EXCEEDED and a cancel CANCELLED), the
 * safe message, an ErrorInfo whose reason is the contract code, and the contract error as its
 * cause (read back by `contractOf`, never sent).
 */
export function connectErrorOf(err: unknown, requestId?: string, log?: UnknownErrorLog): ConnectError {
  if (err instanceof ConnectError && err.findDetails(ErrorInfoSchema).length > 0) return err;
  const contract = contractOf(err, log);
  const keep = err instanceof ConnectError && contract.code !== "internal";
  const grpcCode = keep ? err.code : errorCodes[contract.code].grpc;
  return new ConnectError(contract.message, grpcCode, keep ? err.metadata : undefined, [errorInfoOf(contract.code, requestId)], contract);
}

/** The answer the request's protocol expects for an error: gRPC status for gRPC and gRPC-web, the contract's JSON otherwise. */
export function errorAnswer(req: UniversalServerRequest, err: unknown, requestId: string, header?: Headers, log?: UnknownErrorLog): UniversalServerResponse {
  const contentType = req.header.get("content-type") ?? "";
  return grpcContentType.test(contentType) ? grpcErrorAnswer(contentType, err, requestId, header, log) : restErrorAnswer(err, requestId, header, log);
}

/** The contract's JSON body of an error: `{"error": {code, message, request_id}}`. */
function restErrorBody(error: ScaiVaultError, requestId: string) {
  return { error: { code: error.code, message: error.message, request_id: requestId } };
}

/** The REST answer: the contract code's HTTP status and `{"error": {code, message, request_id}}`. */
export function restErrorAnswer(err: unknown, requestId: string, header?: Headers, log?: UnknownErrorLog): UniversalServerResponse {
  const error = contractOf(err, log);
  return jsonResponse(error.httpStatus, restErrorBody(error, requestId), header);
}

/** A Server-Sent Events error frame, for an error after the stream has begun: `event: error` and the REST error JSON. */
export function eventStreamErrorFrame(err: unknown, requestId: string): { code: ErrorCode; frame: string } {
  const error = contractOf(err);
  return { code: error.code, frame: `event: error\ndata: ${JSON.stringify(restErrorBody(error, requestId))}\n\n` };
}

/** A Connect unary error response, with Connect's HTTP status for the error's gRPC code. */
export function connectErrorAnswer(err: unknown, requestId: string): UniversalServerResponse {
  const connectError = connectErrorOf(err, requestId);
  const bytes = errorToJsonBytes(connectError, {});
  const header = new Headers({ "content-type": "application/json", "content-length": String(bytes.byteLength) });
  return { status: codeToHttpStatus(connectError.code), header, body: singleChunkBody(bytes) };
}

/**
 * A gRPC answer without a message: HTTP 200 and the status in trailers (native gRPC, which has
 * HTTP/2 trailers) or in the headers, as a trailers-only response (gRPC-web, which may run over
 * HTTP/1.1 and a body this answer does not have).
 */
export function grpcErrorAnswer(contentType: string, err: unknown, requestId: string, header = new Headers(), log?: UnknownErrorLog): UniversalServerResponse {
  const status = new Headers();
  setTrailerStatus(status, connectErrorOf(err, requestId, log));
  if (/^application\/grpc-web/i.test(contentType)) {
    if (!header.has("content-type")) header.set("content-type", contentType.split(";")[0]!);
    status.forEach((value, name) => header.set(name, value));
    return { status: 200, header };
  }
  if (!header.has("content-type")) header.set("content-type", "application/grpc");
  return { status: 200, header, trailer: status };
}

/** Vault's wording for the cases its clients branch on. */
export const vaultMessages = {
  permissionDenied: "permission denied",
  unsupportedOperation: "1 error occurred:\n\t* unsupported operation\n\n",
  unsupportedPath: "1 error occurred:\n\t* unsupported path\n\n",
  casMismatch: "check-and-set parameter did not match the current version",
} as const;

/** An error as a client of Vault expects it: `{"errors": [...]}`. */
export function vaultErrors(status: number, errors: string[]): UniversalServerResponse {
  return jsonResponse(status, { errors });
}

/** Contract codes and the Vault status they become; anything missing is a 400 with the message. */
const vaultStatusOf: Partial<Record<ErrorCode, number>> = {
  unauthenticated: 403,
  access_denied: 403,
  not_found: 404,
  secret_not_found: 404,
  version_not_found: 404,
  secret_expired: 404,
  method_not_allowed: 405,
  version_conflict: 400,
  payload_too_large: 413,
  rate_limited: 429,
  internal: 500,
  unimplemented: 501,
  unavailable: 503,
  deadline_exceeded: 504,
};

/**
 * The Vault dialect's answer. A bad token and a missing scope are both Vault's bare `permission
 * denied`; a missing secret or version is `{"errors": []}` as Vault sends it; a check-and-set
 * mismatch is Vault's 400.
 */
export function vaultErrorAnswer(err: unknown, log?: UnknownErrorLog): { response: UniversalServerResponse; code: ErrorCode } {
  const { code, message } = contractOf(err, log);
  const status = vaultStatusOf[code] ?? 400;
  let errors: string[];
  if (status === 403) errors = [vaultMessages.permissionDenied];
  else if (status === 404) errors = [];
  else if (code === "version_conflict") errors = [vaultMessages.casMismatch];
  else if (code === "method_not_allowed") errors = [vaultMessages.unsupportedOperation];
  else errors = [message];
  return { response: vaultErrors(status, errors), code };
}

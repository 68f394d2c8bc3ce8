import { ConnectError } from "@connectrpc/connect";
import type { UniversalServerRequest, UniversalServerResponse } from "@connectrpc/connect/protocol";
import { setTrailerStatus } from "@connectrpc/connect/protocol-grpc";
import { ErrorInfoSchema } from "../../gen/google/rpc/error_details_pb.js";
import { contractCodeOf, errorInfoOf, ScaiVaultError, toConnectError } from "../errors.js";
import { errorResponse } from "./rest-response.js";

/**
 * The one place where an error becomes each protocol's answer. Connect's own handlers serialize
 * the ConnectError that `contractErrorOf` gives (through the error interceptor); the answers the
 * transport writes itself (REST, the gRPC fast path, unknown gRPC methods, failures before any
 * handler runs) come from `errorAnswer`.
 */

/** Native gRPC and gRPC-web: errors travel as grpc-status, never as an HTTP status. */
const grpcContentType = /^application\/grpc(-web(-text)?)?(?:[+;]|$)/i;

/**
 * Any error as the contract's ConnectError: its code, a safe message, and an ErrorInfo whose
 * reason is the contract code and whose metadata carries the request id. A ConnectError keeps
 * its gRPC code (a deadline stays DEADLINE_EXCEEDED); an unknown error is `internal`, its text
 * never sent.
 */
export function contractErrorOf(err: unknown, requestId?: string): ConnectError {
  if (err instanceof ScaiVaultError) return toConnectError(err, requestId);
  if (err instanceof ConnectError && err.findDetails(ErrorInfoSchema).length > 0) return err;
  const { code, message } = contractCodeOf(err);
  if (!(err instanceof ConnectError) || code === "internal") return toConnectError(new ScaiVaultError(code, message), requestId);
  return new ConnectError(err.rawMessage, err.code, err.metadata, [errorInfoOf(code, requestId)]);
}

/** The answer the request's protocol expects for an error: gRPC status for gRPC and gRPC-web, the contract's JSON otherwise. */
export function errorAnswer(req: UniversalServerRequest, err: unknown, requestId: string, header?: Headers): UniversalServerResponse {
  const contentType = req.header.get("content-type") ?? "";
  return grpcContentType.test(contentType) ? grpcErrorAnswer(contentType, err, requestId, header) : restErrorAnswer(err, requestId, header);
}

/** The REST answer: the contract code's HTTP status and `{"error": {code, message, request_id}}`. */
export function restErrorAnswer(err: unknown, requestId: string, header?: Headers): UniversalServerResponse {
  const { code, message } = contractCodeOf(err);
  return errorResponse(code, code === "internal" ? "internal error" : message, requestId, header);
}

/**
 * A gRPC answer without a message: HTTP 200 and the status in trailers (native gRPC, which has
 * HTTP/2 trailers) or in the headers, as a trailers-only response (gRPC-web, which may run over
 * HTTP/1.1 and a body this answer does not have).
 */
export function grpcErrorAnswer(contentType: string, err: unknown, requestId: string, header = new Headers()): UniversalServerResponse {
  const status = new Headers();
  setTrailerStatus(status, contractErrorOf(err, requestId));
  if (/^application\/grpc-web/i.test(contentType)) {
    if (!header.has("content-type")) header.set("content-type", contentType.split(";")[0]!);
    status.forEach((value, name) => header.set(name, value));
    return { status: 200, header };
  }
  if (!header.has("content-type")) header.set("content-type", "application/grpc");
  return { status: 200, header, trailer: status };
}

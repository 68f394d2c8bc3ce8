import type { JsonValue } from "@bufbuild/protobuf";
import type { UniversalServerResponse } from "@connectrpc/connect/protocol";
import { errorCodes, type ErrorCode } from "../errors.js";
import { singleChunkBody } from "./universal-io.js";

const encoder = new TextEncoder();

/** A JSON response with the given status. */
export function jsonResponse(status: number, body: JsonValue, header = new Headers()): UniversalServerResponse {
  const bytes = encoder.encode(JSON.stringify(body));
  header.set("content-type", "application/json");
  header.set("content-length", String(bytes.byteLength));
  return { status, header, body: singleChunkBody(bytes) };
}

/** The contract's error response: the code's HTTP status and `{"error": {code, message, request_id}}`. */
export function errorResponse(code: ErrorCode, message: string, requestId: string, header?: Headers): UniversalServerResponse {
  return jsonResponse(errorCodes[code].http, { error: { code, message, request_id: requestId } }, header);
}

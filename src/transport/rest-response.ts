import type { JsonValue } from "@bufbuild/protobuf";
import type { UniversalServerResponse } from "@connectrpc/connect/protocol";
import { singleChunkBody } from "./universal-io.js";

const encoder = new TextEncoder();

/** A JSON response with the given status. */
export function jsonResponse(status: number, body: JsonValue, header = new Headers()): UniversalServerResponse {
  const bytes = encoder.encode(JSON.stringify(body));
  header.set("content-type", "application/json");
  header.set("content-length", String(bytes.byteLength));
  return { status, header, body: singleChunkBody(bytes) };
}


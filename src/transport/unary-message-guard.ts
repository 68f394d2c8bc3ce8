import { fromBinary, type DescMethod, type JsonObject } from "@bufbuild/protobuf";
import { Code, ConnectError } from "@connectrpc/connect";
import {
  compressedFlag,
  compressionNegotiate,
  createAsyncIterable,
  envelopeDecompress,
  type Compression,
  type UniversalServerRequest,
  type UniversalServerResponse,
} from "@connectrpc/connect/protocol";
import { requestIdKey } from "../auth/principal.js";
import { ScaiVaultError } from "../errors.js";
import { connectErrorAnswer, errorAnswer } from "./error-edge.js";
import { requestFromJson } from "./request-json.js";
import { isByteStream, readRequestBytes } from "./universal-io.js";

// Connect's handlers parse a unary call's message before any interceptor runs and answer a bad
// one themselves: `internal` with the parser's text for protobuf, `invalid_argument` quoting the
// offending JSON value (a secret, perhaps) for JSON. So the message of every unary call that goes
// to Connect's handler (Connect, gRPC-web, gRPC with JSON; native gRPC with protobuf has its own
// path) is read and parsed here first. A bad one gets the contract's `invalid_request` in the
// protocol's own form, naming at most a field, never a value. A good one goes on to Connect's
// handler as the bytes that were read.

const connectUnary = /^application\/(proto|x-protobuf|json)(?:;|$)/i;
const enveloped = /^application\/grpc(?:-web)?(?:\+(proto|json))?(?:;|$)/i;
const prefixBytes = 5;

export interface UnaryMessageLimits {
  /** Largest message, before and after decompression. */
  maxBodyBytes: number;
  /** Encodings the server accepts. */
  compression: Compression[];
}

type Checked = { req: UniversalServerRequest } | { res: UniversalServerResponse };

/** Reads and parses a unary call's request message; answers the protocol's error when it is not a valid message. */
export async function checkUnaryMessage(req: UniversalServerRequest, method: DescMethod, limits: UnaryMessageLimits): Promise<Checked> {
  if (req.method !== "POST" || method.methodKind !== "unary" || !isByteStream(req.body)) return { req };
  const contentType = req.header.get("content-type") ?? "";
  const connect = connectUnary.exec(contentType);
  const framed = connect ? null : enveloped.exec(contentType);
  if (!connect && !framed) return { req };
  const json = (connect?.[1] ?? framed?.[1] ?? "proto").toLowerCase() === "json";
  let compression: Compression | null = null;
  if (connect) {
    const encoding = req.header.get("content-encoding");
    if (encoding !== null && encoding !== "identity") {
      compression = limits.compression.find((c) => c.name === encoding) ?? null;
      // An encoding the server does not know is refused here: Connect's own text would quote the header.
      if (!compression) return { res: unknownEncoding(req, limits, "content-encoding", true) };
    }
  } else {
    const negotiated = compressionNegotiate(limits.compression, req.header.get("grpc-encoding"), null, "grpc-accept-encoding");
    if (negotiated.error) return { res: unknownEncoding(req, limits, "grpc-encoding", false) };
    compression = negotiated.request;
  }
  let bytes: Uint8Array;
  try {
    const framingBytes = framed ? prefixBytes : 0;
    bytes = await readRequestBytes(req.body, { maxBytes: limits.maxBodyBytes, framingBytes, lengthHint: req.header.get("content-length") }, "request message");
    const message = framed ? await unwrapEnvelope(bytes, compression, limits.maxBodyBytes) : await decompressed(bytes, compression, limits.maxBodyBytes);
    parseMessage(method, message, json);
  } catch (err) {
    const error = err instanceof ScaiVaultError ? err : new ScaiVaultError("invalid_request", `request message is not a valid ${method.input.typeName}`);
    const requestId = req.contextValues?.get(requestIdKey) ?? "";
    return { res: connect ? connectErrorAnswer(error, requestId) : errorAnswer(req, error, requestId) };
  }
  return { req: withBody(req, bytes) };
}

/** The answer to a request compressed with an encoding the server does not know: names the header and what is supported, never the value sent. */
function unknownEncoding(req: UniversalServerRequest, limits: UnaryMessageLimits, header: string, connect: boolean) {
  const supported = ["identity", ...limits.compression.map((c) => c.name)].join(", ");
  const error = new ScaiVaultError("unimplemented", `unsupported ${header} (supported: ${supported})`);
  const requestId = req.contextValues?.get(requestIdKey) ?? "";
  return connect ? connectErrorAnswer(error, requestId) : errorAnswer(req, error, requestId);
}

/** The one message of a gRPC or gRPC-web unary body, decompressed within the limit. */
async function unwrapEnvelope(bytes: Uint8Array, compression: Compression | null, maxBytes: number): Promise<Uint8Array> {
  if (bytes.byteLength < prefixBytes) throw new ScaiVaultError("invalid_request", "a unary call needs exactly one request message");
  const length = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength).getUint32(1);
  if (bytes.byteLength !== prefixBytes + length) throw new ScaiVaultError("invalid_request", "a unary call needs exactly one request message");
  const flags = bytes[0]!;
  if (flags & compressedFlag && !compression) throw new ScaiVaultError("invalid_request", "compressed message without grpc-encoding");
  const envelope = await envelopeDecompress({ flags, data: bytes.subarray(prefixBytes) }, compression, maxBytes).catch((err: unknown) => {
    throw refusedDecompression(err, compression, maxBytes);
  });
  return envelope.data;
}

/** A Connect unary body, decompressed within the limit. */
async function decompressed(bytes: Uint8Array, compression: Compression | null, maxBytes: number): Promise<Uint8Array> {
  if (!compression) return bytes;
  return compression.decompress(bytes, maxBytes).catch((err: unknown) => {
    throw refusedDecompression(err, compression, maxBytes);
  });
}

function refusedDecompression(err: unknown, compression: Compression | null, maxBytes: number): ScaiVaultError {
  if (err instanceof ConnectError && err.code === Code.ResourceExhausted) return new ScaiVaultError("payload_too_large", `request message is larger than ${maxBytes} bytes after decompression`);
  return new ScaiVaultError("invalid_request", `request message is not valid ${compression?.name ?? "compressed data"}`);
}

/** Parses the message as Connect's handler will: protobuf, or JSON with the service's strict JSON options. */
function parseMessage(method: DescMethod, bytes: Uint8Array, json: boolean) {
  if (!json) {
    fromBinary(method.input, bytes);
    return;
  }
  let value: unknown;
  try {
    value = JSON.parse(new TextDecoder("utf-8", { fatal: true }).decode(bytes));
  } catch {
    throw new ScaiVaultError("invalid_request", "request message is not valid JSON");
  }
  if (typeof value !== "object" || value === null || Array.isArray(value)) throw new ScaiVaultError("invalid_request", "request message must be a JSON object");
  requestFromJson(method.input, value as JsonObject);
}

/** The request with the bytes already read as its body. */
function withBody(original: UniversalServerRequest, bytes: Uint8Array): UniversalServerRequest {
  return {
    httpVersion: original.httpVersion,
    method: original.method,
    url: original.url,
    header: original.header,
    contextValues: original.contextValues,
    body: createAsyncIterable([bytes]),
    // Read lazily, as the original does: making the signal costs an AbortController.
    get signal() {
      return original.signal;
    },
  };
}


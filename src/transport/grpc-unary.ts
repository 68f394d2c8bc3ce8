import { fromBinary, toBinary, type DescMethod } from "@bufbuild/protobuf";
import {
  compressedFlag,
  compressionNegotiate,
  type Compression,
  encodeEnvelope,
  envelopeCompress,
  envelopeDecompress,
  type UniversalServerRequest,
  type UniversalServerResponse,
} from "@connectrpc/connect/protocol";
import { parseTimeout, setTrailerStatus } from "@connectrpc/connect/protocol-grpc";
import { requestIdKey } from "../auth/principal.js";
import { ScaiVaultError } from "../errors.js";
import { grpcErrorAnswer } from "./error-edge.js";
import type { UnaryInvoker } from "./unary-invoker.js";
import { readRequestBytes, singleChunkBody } from "./universal-io.js";

/** Native gRPC with protobuf messages; `application/grpc+json` and gRPC-web stay with Connect. */
const protoGrpc = /^application\/grpc(?:\+proto)?$/i;
/** Length-prefixed message framing: one flags byte and a 4-byte big-endian length. */
const prefixBytes = 5;

export interface GrpcUnaryOptions {
  /** Largest request message, after decompression. */
  maxBodyBytes: number;
  /** Encodings accepted for requests and offered for responses (gzip, br). */
  compression: Compression[];
  /** Responses smaller than this go uncompressed even when the client accepts an encoding. */
  compressMinBytes: number;
  /** Longest a call may run; a client's longer (or missing) deadline is cut to it. */
  maxTimeoutMs?: number;
}

/**
 * Native gRPC unary calls without Connect's streaming machinery: one length-prefixed message in,
 * the unary invoker (the same interceptors and handler as every protocol), one message and the
 * status trailers out. Compression and deadlines follow Connect's gRPC handler, with its own
 * exported pieces (negotiation, envelope (de)compression with the size limit applied after
 * decompression, timeout parsing). Streaming methods and JSON payloads stay with Connect's handler.
 */
export function createGrpcUnary(invoker: UnaryInvoker, options: GrpcUnaryOptions) {
  const { maxBodyBytes, compression, compressMinBytes, maxTimeoutMs } = options;
  return {
    /** Whether this call is a plain unary gRPC call the fast path serves. */
    accepts(req: UniversalServerRequest, method: DescMethod): boolean {
      return req.method === "POST" && method.methodKind === "unary" && protoGrpc.test(req.header.get("content-type") ?? "") && invoker.has(method);
    },

    async handle(req: UniversalServerRequest, method: DescMethod): Promise<UniversalServerResponse> {
      const header = new Headers({ "content-type": "application/grpc+proto" });
      const requestId = req.contextValues?.get(requestIdKey) ?? "";
      try {
        const negotiated = compressionNegotiate(compression, req.header.get("grpc-encoding"), req.header.get("grpc-accept-encoding"), "grpc-accept-encoding");
        // Errors name the header, never its value (Connect's own text would quote it).
        if (negotiated.error) throw new ScaiVaultError("unimplemented", `unsupported grpc-encoding (supported: ${["identity", ...compression.map((c) => c.name)].join(", ")})`);
        // A malformed deadline counts as none, as on the other paths: the server's maximum applies.
        const timeout = parseTimeout(req.header.get("grpc-timeout"), Number.MAX_SAFE_INTEGER);
        const input = decodeRequest(method, await readSingleMessage(req, negotiated.request, maxBodyBytes));
        const result = await invoker.invoke(method, input, {
          protocolName: "grpc",
          requestMethod: req.method,
          url: req.url,
          header: req.header,
          contextValues: req.contextValues!,
          signal: req.signal,
          timeoutMs: capped(timeout.error ? undefined : timeout.timeoutMs, maxTimeoutMs),
        });
        result.header.forEach((value, name) => name !== "content-type" && header.set(name, value));
        const trailer = new Headers(result.trailer);
        setTrailerStatus(trailer, undefined);
        const reply = await envelopeCompress({ flags: 0, data: toBinary(method.output, result.message) }, negotiated.response, compressMinBytes);
        if (reply.flags !== 0) header.set("grpc-encoding", negotiated.response!.name);
        return { status: 200, header, trailer, body: singleChunkBody(encodeEnvelope(reply.flags, reply.data)) };
      } catch (err) {
        return grpcErrorAnswer("application/grpc", err, requestId, header);
      }
    },
  };
}

/** The shorter of the client's deadline and the server's maximum. */
export function capped(timeoutMs: number | undefined, maxTimeoutMs: number | undefined): number | undefined {
  if (maxTimeoutMs === undefined) return timeoutMs;
  return timeoutMs === undefined ? maxTimeoutMs : Math.min(timeoutMs, maxTimeoutMs);
}

/** Reads the request body: exactly one length-prefixed message, decompressed within the size limit. */
async function readSingleMessage(req: UniversalServerRequest, compression: Compression | null, maxBodyBytes: number): Promise<Uint8Array> {
  const bytes = await readRequestBytes(req.body as AsyncIterable<Uint8Array>, { maxBytes: maxBodyBytes, framingBytes: prefixBytes }, "request message");
  if (bytes.byteLength < prefixBytes) throw new ScaiVaultError("invalid_request", "a unary call needs exactly one request message");
  const length = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength).getUint32(1);
  if (bytes.byteLength !== prefixBytes + length) throw new ScaiVaultError("invalid_request", "a unary call needs exactly one request message");
  const flags = bytes[0]!;
  // The client's mistake, not ours: the contract's invalid_request rather than Connect's INTERNAL.
  if (flags & compressedFlag && !compression) throw new ScaiVaultError("invalid_request", "compressed message without grpc-encoding");
  const envelope = await envelopeDecompress({ flags, data: bytes.subarray(prefixBytes) }, compression, maxBodyBytes);
  return envelope.data;
}

function decodeRequest(method: DescMethod, bytes: Uint8Array) {
  try {
    return fromBinary(method.input, bytes);
  } catch {
    throw new ScaiVaultError("invalid_request", `request message is not a valid ${method.input.typeName}`);
  }
}

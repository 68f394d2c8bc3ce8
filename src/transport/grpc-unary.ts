import { fromBinary, toBinary, type DescMethod } from "@bufbuild/protobuf";
import { ConnectError } from "@connectrpc/connect";
import type { UniversalServerRequest, UniversalServerResponse } from "@connectrpc/connect/protocol";
import { parseTimeout, setTrailerStatus } from "@connectrpc/connect/protocol-grpc";
import { ScaiVaultError, toConnectError } from "../errors.js";
import type { UnaryInvoker } from "./unary-invoker.js";
import { readRequestBytes, singleChunkBody } from "./universal-io.js";

/** Native gRPC with protobuf messages; `application/grpc+json` and gRPC-web stay with Connect. */
const protoGrpc = /^application\/grpc(?:\+proto)?$/i;
/** Length-prefixed message framing: one flags byte and a 4-byte big-endian length. */
const prefixBytes = 5;

/**
 * Native gRPC unary calls without Connect's streaming machinery: one length-prefixed message in,
 * the unary invoker (the same interceptors and handler as every protocol), one message and the
 * status trailers out. Calls it does not take (streaming methods, compressed messages, JSON
 * payloads) are served by Connect's gRPC handler as before.
 */
export function createGrpcUnary(invoker: UnaryInvoker, maxBodyBytes: number) {
  return {
    /** Whether this call is a plain unary gRPC call the fast path serves. */
    accepts(req: UniversalServerRequest, method: DescMethod): boolean {
      if (req.method !== "POST" || method.methodKind !== "unary" || !invoker.has(method)) return false;
      if (!protoGrpc.test(req.header.get("content-type") ?? "")) return false;
      const encoding = req.header.get("grpc-encoding");
      return encoding === null || encoding === "identity";
    },

    async handle(req: UniversalServerRequest, method: DescMethod): Promise<UniversalServerResponse> {
      const header = new Headers({ "content-type": "application/grpc+proto" });
      const trailer = new Headers();
      try {
        const timeout = parseTimeout(req.header.get("grpc-timeout"), Number.MAX_SAFE_INTEGER);
        if (timeout.error) throw timeout.error;
        const input = decodeRequest(method, await readSingleMessage(req, maxBodyBytes));
        const result = await invoker.invoke(method, input, {
          protocolName: "grpc",
          requestMethod: req.method,
          url: req.url,
          header: req.header,
          contextValues: req.contextValues!,
          signal: () => (timeout.timeoutMs === undefined ? req.signal : AbortSignal.any([req.signal, AbortSignal.timeout(timeout.timeoutMs)])),
          timeoutMs: timeout.timeoutMs,
        });
        result.header.forEach((value, name) => name !== "content-type" && header.set(name, value));
        result.trailer.forEach((value, name) => trailer.set(name, value));
        setTrailerStatus(trailer, undefined);
        return { status: 200, header, trailer, body: singleChunkBody(framed(toBinary(method.output, result.message))) };
      } catch (err) {
        // Whatever passed the interceptors is the contract's error already; framing errors come first.
        const error = err instanceof ScaiVaultError ? toConnectError(err) : ConnectError.from(err);
        setTrailerStatus(trailer, error);
        return { status: 200, header, trailer };
      }
    },
  };
}

/** Reads the request body: exactly one uncompressed length-prefixed message. */
async function readSingleMessage(req: UniversalServerRequest, maxBodyBytes: number): Promise<Uint8Array> {
  const bytes = await readRequestBytes(req.body as AsyncIterable<Uint8Array>, { maxBytes: maxBodyBytes, framingBytes: prefixBytes }, "request message");
  if (bytes.byteLength < prefixBytes) throw new ScaiVaultError("invalid_request", "a unary call needs exactly one request message");
  if ((bytes[0]! & 0b1) !== 0) throw new ScaiVaultError("invalid_request", "compressed message without grpc-encoding");
  const length = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength).getUint32(1);
  if (bytes.byteLength !== prefixBytes + length) throw new ScaiVaultError("invalid_request", "a unary call needs exactly one request message");
  return bytes.subarray(prefixBytes);
}

function decodeRequest(method: DescMethod, bytes: Uint8Array) {
  try {
    return fromBinary(method.input, bytes);
  } catch {
    throw new ScaiVaultError("invalid_request", `request message is not a valid ${method.input.typeName}`);
  }
}

/** One message in gRPC's length-prefixed framing. */
function framed(message: Uint8Array): Uint8Array {
  const out = new Uint8Array(prefixBytes + message.byteLength);
  new DataView(out.buffer).setUint32(1, message.byteLength);
  out.set(message, prefixBytes);
  return out;
}

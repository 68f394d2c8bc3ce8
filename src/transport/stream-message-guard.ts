import { Code, ConnectError, type Interceptor, type StreamRequest } from "@connectrpc/connect";
import { ScaiVaultError } from "../errors.js";
import { abortedCallError } from "./call-outcome.js";

// The request messages of a streaming call (WatchSecrets, Health/Watch, reflection) are read by
// Connect's handler as the implementation asks for them: a frame that is not protobuf or JSON,
// a compressed flag without `grpc-encoding`, or a cut-off frame fails there as `internal` with
// the parser's text (for JSON, quoting the offending value). This interceptor, right inside the
// error interceptor, reads them for the implementation and turns whatever reading them throws
// into the contract's answer, naming the message type and never the content: `invalid_request`
// (INVALID_ARGUMENT), `payload_too_large` (RESOURCE_EXHAUSTED), an unsupported encoding as
// UNIMPLEMENTED, and `canceled` when the client went away mid-request.

/** Guards the request messages of streaming calls; unary calls pass untouched. */
export function createStreamMessageGuard(): Interceptor {
  return (next) => async (req) => {
    if (!req.stream) return next(req);
    const typeName = req.method.input.typeName;
    if (req.method.methodKind === "server_streaming") {
      const message = await singleMessageOf(req, typeName);
      return next(withMessages(req, oneMessage(message)));
    }
    return next(withMessages(req, guardedMessages(req, typeName)));
  };
}

/** The one request message of a server-streaming call. */
async function singleMessageOf(req: StreamRequest, typeName: string): Promise<unknown> {
  const messages: unknown[] = [];
  try {
    for await (const message of req.message) {
      messages.push(message);
      if (messages.length > 1) break;
    }
  } catch (err) {
    throw requestStreamError(err, req.signal, typeName);
  }
  if (messages.length !== 1) throw new ScaiVaultError("invalid_request", `a server-streaming call needs exactly one ${typeName} request message`);
  return messages[0];
}

async function* oneMessage(message: unknown): AsyncIterable<unknown> {
  yield message;
}

/** The request messages of a client- or bidi-streaming call, with reading failures translated. */
async function* guardedMessages(req: StreamRequest, typeName: string): AsyncIterable<unknown> {
  try {
    yield* req.message;
  } catch (err) {
    throw requestStreamError(err, req.signal, typeName);
  }
}

function withMessages(req: StreamRequest, message: AsyncIterable<unknown>): StreamRequest {
  return { ...req, message } as StreamRequest;
}

/**
 * What a failure to read the request stream means for the client. Connect's messages are not
 * passed on: a JSON parser's quotes the value, a timeout parser's the header.
 */
export function requestStreamError(err: unknown, signal: AbortSignal, typeName: string): Error {
  if (signal.aborted) return abortedCallError(signal);
  if (err instanceof ScaiVaultError) return err;
  if (err instanceof ConnectError) {
    if (err.code === Code.ResourceExhausted) return new ScaiVaultError("payload_too_large", "a request message is larger than the server accepts");
    // An encoding the server does not know; Connect's metadata lists the ones it does (grpc-accept-encoding).
    if (err.code === Code.Unimplemented) return new ConnectError("the request's message encoding is not supported", Code.Unimplemented, err.metadata);
  }
  return new ScaiVaultError("invalid_request", `request message is not a valid ${typeName}`, { cause: err });
}

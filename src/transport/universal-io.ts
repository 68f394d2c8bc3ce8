import { Code, ConnectError } from "@connectrpc/connect";
import {
  readAllBytes,
  universalClientResponseFromFetch,
  type UniversalServerRequest,
  type UniversalServerResponse,
} from "@connectrpc/connect/protocol";
import { ScaiVaultError } from "../errors.js";

/** A response body of one chunk that the app made itself: adapters may write `bytes` at once instead of iterating. */
export interface SingleChunkBody extends AsyncIterable<Uint8Array> {
  readonly bytes: Uint8Array;
}

export function singleChunkBody(bytes: Uint8Array): SingleChunkBody {
  return {
    bytes,
    async *[Symbol.asyncIterator]() {
      yield bytes;
    },
  };
}

export function isSingleChunkBody(body: unknown): body is SingleChunkBody {
  return typeof body === "object" && body !== null && (body as Partial<SingleChunkBody>).bytes instanceof Uint8Array;
}

/** Bodies the transport produces itself (Connect responses it rewrites) have no meaningful cap. */
const unlimited = Number.MAX_SAFE_INTEGER;

/**
 * Reads a request body of at most `maxBytes` (plus `framingBytes` of protocol framing): over the
 * limit is the contract's `payload_too_large`, a body that cannot be read `invalid_request`.
 * `what` names it in those messages ("request body", "request message").
 */
export async function readRequestBytes(
  body: AsyncIterable<Uint8Array>,
  limits: { maxBytes: number; framingBytes?: number; lengthHint?: string | null },
  what: string,
): Promise<Uint8Array> {
  try {
    return await readAllBytes(body, limits.maxBytes + (limits.framingBytes ?? 0), limits.lengthHint);
  } catch (err) {
    if (err instanceof ConnectError && err.code === Code.ResourceExhausted) {
      throw new ScaiVaultError("payload_too_large", `${what} is larger than ${limits.maxBytes} bytes`);
    }
    throw new ScaiVaultError("invalid_request", `${what} could not be read`, { cause: err });
  }
}

/** True when the body is a byte stream, not JSON a framework already parsed. */
export function isByteStream(body: UniversalServerRequest["body"]): body is AsyncIterable<Uint8Array> {
  return typeof body === "object" && body !== null && Symbol.asyncIterator in body;
}

/** Reads a whole response body (one the app produced, so no limit). */
export async function readResponseBody(res: UniversalServerResponse): Promise<Uint8Array> {
  return res.body ? readAllBytes(res.body, unlimited) : new Uint8Array(0);
}

/** The fetch Request a fetch-style handler expects, for a universal request. */
export function toFetchRequest(req: UniversalServerRequest): Request {
  let body: BodyInit | null = null;
  if (req.method !== "GET" && req.method !== "HEAD") {
    body = isByteStream(req.body) ? readableStreamOf(req.body) : JSON.stringify(req.body);
  }
  // `duplex` is required by Node's fetch for a streamed body and missing from the DOM typings.
  return new Request(req.url, { method: req.method, headers: req.header, body, signal: req.signal, duplex: "half" } as RequestInit);
}

/** The universal response for a fetch Response. */
export function fromFetchResponse(res: Response): UniversalServerResponse {
  const { status, header, body } = universalClientResponseFromFetch(res);
  return { status, header, body };
}

function readableStreamOf(iterable: AsyncIterable<Uint8Array>): ReadableStream<Uint8Array> {
  const it = iterable[Symbol.asyncIterator]();
  return new ReadableStream({
    async pull(controller) {
      const next = await it.next();
      if (next.done) controller.close();
      else controller.enqueue(next.value);
    },
    async cancel(reason) {
      await it.return?.(reason);
    },
  });
}

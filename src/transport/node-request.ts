import { EventEmitter } from "node:events";
import type * as http from "node:http";
import type * as http2 from "node:http2";
import type { JsonValue } from "@bufbuild/protobuf";
import type { ContextValues } from "@connectrpc/connect";
import { universalRequestFromNodeRequest, universalResponseToNodeResponse } from "@connectrpc/connect-node";
import type { UniversalServerRequest, UniversalServerResponse } from "@connectrpc/connect/protocol";
import { isSingleChunkBody } from "./universal-io.js";

export type NodeRequest = http.IncomingMessage | http2.Http2ServerRequest;
export type NodeResponse = http.ServerResponse | http2.Http2ServerResponse;

/** Hosts as they may appear in a Host header or `:authority` (names, IPv4, bracketed IPv6, a port). */
const saneAuthority = /^[A-Za-z0-9._~%!$&'()*+,;=:[\]-]+$/;

/** A Node request as the app takes it, and what the server calls once the app's answer has been written. */
export interface NodeCall {
  request: UniversalServerRequest;
  /** The answer is complete: the client leaving from now on no longer cancels the call. */
  answered(): void;
}

/**
 * A Node request as the app takes it: connect-node's `universalRequestFromNodeRequest` (headers,
 * the abort signal), with two changes:
 * - the URL as the client sent it. Connect resolves the target with `new URL(target, base)`,
 *   which drops dot segments and reads `//x/...` as a host; routing and path validation must see
 *   the raw target;
 * - the body is the Node request itself, an async iterable of its chunks. connect-node would wrap
 *   it in a generator that yields the same chunks, compiled to ES2017 helpers whose making alone
 *   costs about 10 µs of a gRPC call's CPU; handed in where a framework passes a body it has
 *   already parsed, it is taken as is.
 * Throws on a request without a usable authority (answered 400 by the server).
 */
export function nodeCallOf(req: NodeRequest, res: NodeResponse, contextValues: ContextValues): NodeCall {
  const authority = "authority" in req ? req.authority : req.headers.host;
  if (authority === undefined || !saneAuthority.test(authority)) throw new Error("request without a usable authority");
  const target = req.url ?? "";
  const call: NodeCall =
    "stream" in req ? withQuietHttp2Close(req, contextValues) : { request: universalRequestFromNodeRequest(req, departureOf(res as http.ServerResponse), bodyOf(req), contextValues), answered: () => {} };
  const scheme = "encrypted" in req.socket && req.socket.encrypted ? "https" : "http";
  // Absolute form (`GET http://host/path`): Connect's URL is the target's.
  const url = target.startsWith("/") ? `${scheme}://${authority}${target}` : call.request.url;
  return { ...call, request: { ...call.request, url } };
}

/** The request as its own body, in the parameter connect-node takes a parsed body in (typed JSON there). */
function bodyOf(req: NodeRequest): JsonValue {
  return req as AsyncIterable<Uint8Array> as unknown as JsonValue;
}

/**
 * What connect-node watches to learn that an HTTP/1.1 client went away: it aborts the request's
 * signal when this emits "close". The response itself closes after every answer, and aborting then
 * (which builds a DOMException) took about 5 % of a read's CPU; this closes only when the
 * connection ended before the answer was complete.
 */
function departureOf(res: http.ServerResponse): http.ServerResponse {
  const departure = new EventEmitter();
  res.once("close", () => {
    if (!res.writableFinished) departure.emit("close");
  });
  return departure as http.ServerResponse;
}

/**
 * connect-node's conversion of an HTTP/2 request, minus one cost: it aborts the request's signal
 * when the request emits "close", which every stream does once answered, and that abort builds a
 * DOMException (about 15 µs of a gRPC read's CPU on Node 24). Once the app's answer has been
 * written, nobody follows the signal any more, so connect-node's close listener is taken off then
 * (`answered`). The compat response's own "finish" comes too late for that: Node emits it from
 * the stream's close, after the request's "close". A stream the client resets before its answer
 * was written still aborts.
 */
function withQuietHttp2Close(req: http2.Http2ServerRequest, contextValues: ContextValues): NodeCall {
  const before = req.listenerCount("close");
  const request = universalRequestFromNodeRequest(req, bodyOf(req), contextValues);
  const abortsOnClose = req.listeners("close").slice(before) as Array<(...args: unknown[]) => void>;
  return {
    request,
    answered() {
      for (const listener of abortsOnClose) req.off("close", listener);
    },
  };
}

/**
 * Writes the app's response: a body of one chunk (every unary answer the app makes itself) in
 * one `end`, anything else (Connect's streams) through connect-node's writer.
 */
export async function writeResponse(uRes: UniversalServerResponse, res: NodeResponse): Promise<void> {
  if (uRes.body !== undefined && !isSingleChunkBody(uRes.body)) return universalResponseToNodeResponse(uRes, res);
  res.writeHead(uRes.status, nodeHeadersOf(uRes.header));
  if (uRes.trailer) res.addTrailers(nodeHeadersOf(uRes.trailer));
  if (uRes.body) (res as NodeJS.WritableStream).end(uRes.body.bytes);
  else res.end();
}

function nodeHeadersOf(header: Headers | undefined): Record<string, string> {
  const out: Record<string, string> = {};
  header?.forEach((value, name) => (out[name] = value));
  return out;
}

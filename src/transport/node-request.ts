import { EventEmitter } from "node:events";
import type * as http from "node:http";
import type * as http2 from "node:http2";
import type { ContextValues } from "@connectrpc/connect";
import { universalRequestFromNodeRequest, universalResponseToNodeResponse } from "@connectrpc/connect-node";
import type { UniversalServerRequest, UniversalServerResponse } from "@connectrpc/connect/protocol";
import { isSingleChunkBody } from "./universal-io.js";

export type NodeRequest = http.IncomingMessage | http2.Http2ServerRequest;
export type NodeResponse = http.ServerResponse | http2.Http2ServerResponse;

/** Hosts as they may appear in a Host header or `:authority` (names, IPv4, bracketed IPv6, a port). */
const saneAuthority = /^[A-Za-z0-9._~%!$&'()*+,;=:[\]-]+$/;

/**
 * The universal request of a Node request: connect-node's `universalRequestFromNodeRequest`
 * (headers, body, the abort signal), with the URL as the client sent it. Connect resolves the
 * target with `new URL(target, base)`, which drops dot segments and reads `//x/...` as a host;
 * routing and path validation must see the raw target. Throws on a request without a usable
 * authority (answered 400 by the server).
 */
export function universalRequestOf(req: NodeRequest, res: NodeResponse, contextValues: ContextValues): UniversalServerRequest {
  const authority = "authority" in req ? req.authority : req.headers.host;
  if (authority === undefined || !saneAuthority.test(authority)) throw new Error("request without a usable authority");
  const target = req.url ?? "";
  const uReq = "stream" in req ? withQuietHttp2Close(req, res, contextValues) : universalRequestFromNodeRequest(req, departureOf(res as http.ServerResponse), undefined, contextValues);
  if (!target.startsWith("/")) return uReq; // absolute form: Connect's URL is the target's
  const scheme = "encrypted" in req.socket && req.socket.encrypted ? "https" : "http";
  return { ...uReq, url: `${scheme}://${authority}${target}` };
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
 * DOMException (about 9 µs of a gRPC read's CPU on Node 24). Once the response has finished, the
 * answer is complete and nobody follows the signal any more, so connect-node's close listener is
 * taken off then; a stream that closes before its response finished (the client reset it) still aborts.
 */
function withQuietHttp2Close(req: http2.Http2ServerRequest, res: NodeResponse, contextValues: ContextValues): UniversalServerRequest {
  const before = req.listenerCount("close");
  const uReq = universalRequestFromNodeRequest(req, res, undefined, contextValues);
  const abortsOnClose = req.listeners("close").slice(before) as Array<(...args: unknown[]) => void>;
  res.once("finish", () => {
    for (const listener of abortsOnClose) req.off("close", listener);
  });
  return uReq;
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

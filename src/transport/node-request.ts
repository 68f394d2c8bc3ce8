import type * as http from "node:http";
import type * as http2 from "node:http2";
import { Code, ConnectError, type ContextValues } from "@connectrpc/connect";
import { universalResponseToNodeResponse } from "@connectrpc/connect-node";
import type { UniversalServerRequest, UniversalServerResponse } from "@connectrpc/connect/protocol";
import { isSingleChunkBody } from "./universal-io.js";

export type NodeRequest = http.IncomingMessage | http2.Http2ServerRequest;
export type NodeResponse = http.ServerResponse | http2.Http2ServerResponse;

/** Hosts as they may appear in a Host header or `:authority` (names, IPv4, bracketed IPv6, a port). */
const saneAuthority = /^[A-Za-z0-9._~%!$&'()*+,;=:[\]-]+$/;

/**
 * The universal request of a Node request, as connect-node's `universalRequestFromNodeRequest`
 * builds it, except that the abort signal is made only when something reads it: most calls
 * never do, and an AbortController per request, aborted (with a fresh DOMException) when the
 * response closes, was a measurable share of a secret read. Throws on a request without a
 * usable authority (answered 400 by the server).
 */
export function universalRequestOf(req: NodeRequest, res: NodeResponse, contextValues: ContextValues): UniversalServerRequest {
  const authority = "authority" in req ? req.authority : req.headers.host;
  if (authority === undefined || !saneAuthority.test(authority)) throw new Error("request without a usable authority");
  const scheme = "encrypted" in req.socket && req.socket.encrypted ? "https" : "http";
  const target = req.url ?? "";
  let signal: AbortSignal | undefined;
  return {
    httpVersion: req.httpVersion,
    method: req.method ?? "",
    url: target.startsWith("/") ? `${scheme}://${authority}${target}` : new URL(target, `${scheme}://${authority}`).toString(),
    header: headersOf(req),
    body: req as AsyncIterable<Uint8Array>,
    contextValues,
    get signal() {
      return (signal ??= closeSignalOf(req, res));
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

function headersOf(req: NodeRequest): Headers {
  const header = new Headers();
  for (const name in req.headers) {
    if (name.startsWith(":")) continue; // HTTP/2 pseudo-headers
    const value = req.headers[name];
    if (value === undefined) continue;
    if (Array.isArray(value)) for (const v of value) header.append(name, v);
    else header.set(name, value);
  }
  return header;
}

/** Aborts when the exchange ends: the client went away, or the response is complete. */
function closeSignalOf(req: NodeRequest, res: NodeResponse): AbortSignal {
  const controller = new AbortController();
  const ended = () => new ConnectError("the request ended", Code.Canceled);
  if (req.destroyed && res.writableFinished) {
    controller.abort(ended());
    return controller.signal;
  }
  if ("stream" in req) {
    req.once("close", () => {
      const reset = req.stream.rstCode;
      controller.abort(reset ? new ConnectError(`the stream was reset (code ${reset})`, Code.Canceled) : ended());
    });
  } else {
    const onError = (err: Error) => controller.abort(new ConnectError(err.message, Code.Aborted, undefined, undefined, err));
    req.once("error", onError);
    // A request emits close once its body is read; the response's close is the end of the exchange.
    res.once("close", () => {
      req.off("error", onError);
      controller.abort(ended());
    });
  }
  return controller.signal;
}

import * as http from "node:http";
import type * as net from "node:net";
import { createContextValues } from "@connectrpc/connect";
import { createAsyncIterable, readAllBytes, type UniversalServerRequest, type UniversalServerResponse } from "@connectrpc/connect/protocol";
import { clientAddressKey } from "../auth/principal.js";
import type { Logger } from "../log.js";

/**
 * Vault's `LIST` over HTTP/1.1 on Node. Node's parser (llhttp) knows a fixed set of methods, and
 * `LIST` is not one of them: such a request never reaches a request handler, the server reports a
 * `clientError` with the bytes it could not parse. hvac and node-vault send `LIST` by default, on
 * connections they keep alive, so those requests are taken from there: each chunk Node hands
 * over is kept until the request is complete (request line, headers, a `Content-Length` body),
 * the request is served by the same app as any other, and the answer closes the connection, as
 * the parser that refused the request cannot go on. The client's next request opens a new one.
 * Any other method llhttp does not know gets 501 and CONNECT (not a proxy) 405, each with the
 * contract's JSON error; every other parse error is answered as Node answers it without a listener.
 */
export interface ExtensionMethodOptions {
  handle: (req: UniversalServerRequest) => Promise<UniversalServerResponse>;
  logger: Logger;
  maxBodyBytes: number;
  /** How long the rest of the request may take to arrive. */
  headersTimeoutMs: number;
}

/** Methods served this way: what Vault's clients send that llhttp does not know. */
const extensionMethod = /^(?:\r\n)*LIST /;
/** Largest request head accepted (Node's own default limit). */
const maxHeadBytes = 16 * 1024;

interface Pending {
  bytes: Buffer;
  timer: NodeJS.Timeout;
}

/** Listens for the `clientError`s of an HTTP/1.1-serving server (a plain one or a secure HTTP/2 one allowing HTTP/1.1). */
export function serveExtensionMethods(server: net.Server, options: ExtensionMethodOptions): void {
  const pending = new WeakMap<net.Socket, Pending>();
  // Without a listener Node closes a CONNECT request's connection without a word.
  server.on("connect", (_req: http.IncomingMessage, socket: net.Socket) => refuseMethod(socket, 405, "method_not_allowed", "CONNECT is not served here: this is not a proxy"));
  server.on("clientError", (err: NodeJS.ErrnoException & { rawPacket?: Buffer }, socket: net.Socket) => {
    let state = pending.get(socket);
    if (!state) {
      if (err.code === "HPE_INVALID_METHOD" && !(err.rawPacket && extensionMethod.test(err.rawPacket.toString("latin1", 0, 64)))) {
        // The method is not named: it is whatever the client sent.
        refuseMethod(socket, 501, "unimplemented", "the request's method is not served here");
        return;
      }
      if (err.code !== "HPE_INVALID_METHOD" || !err.rawPacket) {
        answerAsNodeDoes(err, socket);
        return;
      }
      state = { bytes: Buffer.alloc(0), timer: setTimeout(() => socket.destroy(), options.headersTimeoutMs) };
      pending.set(socket, state);
    }
    state.bytes = Buffer.concat([state.bytes, err.rawPacket ?? Buffer.alloc(0)]);
    const request = parseRequest(state.bytes, options.maxBodyBytes);
    if (request === "incomplete") return;
    clearTimeout(state.timer);
    pending.delete(socket);
    if (typeof request === "number") {
      socket.end(`HTTP/1.1 ${request} ${http.STATUS_CODES[request]}\r\nConnection: close\r\nContent-Length: 0\r\n\r\n`);
      return;
    }
    void answer(socket, request, options);
  });
}

interface ParsedRequest {
  method: string;
  target: string;
  header: Headers;
  body: Uint8Array;
}

/** The request in the bytes so far, `incomplete`, or the status refusing it. */
function parseRequest(bytes: Buffer, maxBodyBytes: number): ParsedRequest | "incomplete" | number {
  const start = bytes.indexOf("LIST ");
  const headEnd = bytes.indexOf("\r\n\r\n", start);
  if (headEnd < 0) return bytes.length > maxHeadBytes ? 431 : "incomplete";
  const lines = bytes.toString("latin1", start, headEnd).split("\r\n");
  const requestLine = /^(LIST) (\S+) HTTP\/1\.[01]$/.exec(lines[0]!);
  if (!requestLine) return 400;
  const header = new Headers();
  for (const line of lines.slice(1)) {
    const colon = line.indexOf(":");
    if (colon <= 0) return 400;
    try {
      header.append(line.slice(0, colon).trim(), line.slice(colon + 1).trim());
    } catch {
      return 400;
    }
  }
  if (header.has("transfer-encoding")) return 400;
  const length = header.get("content-length") ?? "0";
  if (!/^\d{1,10}$/.test(length)) return 400;
  if (Number(length) > maxBodyBytes) return 413;
  const bodyStart = headEnd + 4;
  if (bytes.length < bodyStart + Number(length)) return "incomplete";
  return { method: requestLine[1]!, target: requestLine[2]!, header, body: new Uint8Array(bytes.subarray(bodyStart, bodyStart + Number(length))) };
}

async function answer(socket: net.Socket, parsed: ParsedRequest, options: ExtensionMethodOptions) {
  const host = parsed.header.get("host");
  if (!host || !parsed.target.startsWith("/")) {
    socket.end("HTTP/1.1 400 Bad Request\r\nConnection: close\r\nContent-Length: 0\r\n\r\n");
    return;
  }
  const abort = new AbortController();
  socket.once("close", () => abort.abort());
  const scheme = "encrypted" in socket && socket.encrypted ? "https" : "http";
  const req: UniversalServerRequest = {
    httpVersion: "1.1",
    method: parsed.method,
    url: `${scheme}://${host}${parsed.target}`,
    header: parsed.header,
    body: createAsyncIterable([parsed.body]),
    signal: abort.signal,
    contextValues: createContextValues().set(clientAddressKey, socket.remoteAddress),
  };
  try {
    const res = await options.handle(req);
    const body = res.body ? await readAllBytes(res.body, Number.MAX_SAFE_INTEGER) : new Uint8Array(0);
    const header = new Headers(res.header);
    header.set("content-length", String(body.byteLength));
    header.set("connection", "close");
    let head = `HTTP/1.1 ${res.status} ${http.STATUS_CODES[res.status] ?? ""}\r\n`;
    header.forEach((value, name) => (head += `${name}: ${value}\r\n`));
    socket.end(Buffer.concat([Buffer.from(`${head}\r\n`, "latin1"), body]));
  } catch (err) {
    options.logger.debug("LIST request not answered", { err });
    socket.destroy();
  }
}

/**
 * The contract's JSON error for a request no route can take, then the connection closes: the
 * parser that refused it (or handed the socket over, for CONNECT) cannot read another request.
 */
function refuseMethod(socket: net.Socket, status: 405 | 501, code: string, message: string) {
  if (!socket.writable) return socket.destroy();
  const body = JSON.stringify({ error: { code, message, request_id: crypto.randomUUID() } });
  const allow = status === 405 ? "Allow: GET, HEAD, POST, PUT, PATCH, DELETE, OPTIONS\r\n" : "";
  socket.end(`HTTP/1.1 ${status} ${http.STATUS_CODES[status]}\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\n${allow}Connection: close\r\n\r\n${body}`);
}

/** What Node's server does with a parse error when nobody listens: a status, unless a response is under way, then the socket goes. */
function answerAsNodeDoes(err: NodeJS.ErrnoException, socket: net.Socket) {
  const inFlight = (socket as net.Socket & { _httpMessage?: { headersSent?: boolean } })._httpMessage;
  if (socket.writable && !inFlight?.headersSent) {
    const status = err.code === "HPE_HEADER_OVERFLOW" ? 431 : err.code === "HPE_CHUNK_EXTENSIONS_OVERFLOW" ? 413 : err.code === "ERR_HTTP_REQUEST_TIMEOUT" ? 408 : 400;
    socket.write(`HTTP/1.1 ${status} ${http.STATUS_CODES[status]}\r\nConnection: close\r\n\r\n`);
  }
  socket.destroy(err);
}

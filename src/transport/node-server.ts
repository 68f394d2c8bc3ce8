import * as http from "node:http";
import * as http2 from "node:http2";
import * as net from "node:net";
import { createContextValues } from "@connectrpc/connect";
import { clientAddressKey } from "../auth/principal.js";
import type { ConnectionLimits } from "../config.js";
import type { Logger } from "../log.js";
import { boundHttp2Session, createConnectionGate, defaultConnectionLimits, http1TimeoutOptions } from "./connection-limits.js";
import { serveExtensionMethods } from "./extension-methods.js";
import { nodeCallOf, writeResponse, type NodeRequest, type NodeResponse } from "./node-request.js";
import type { UniversalApp } from "./universal-app.js";

export interface ServerOptions {
  app: UniversalApp;
  port: number;
  host?: string;
  /** PEM certificate chain and key; with them the port speaks TLS and negotiates h2 or HTTP/1.1 by ALPN. */
  tls?: { cert: string | Buffer; key: string | Buffer };
  logger: Logger;
  /** How long `close()` lets calls in flight finish before cutting connections (default 10 s). */
  shutdownTimeoutMs?: number;
  /** How long an HTTP/1.1 client may take to send a request's headers before the connection is cut (default 10 s). */
  headersTimeoutMs?: number;
  /** Largest body of a request Node's parser cannot take (Vault's `LIST`; default 1 MiB). */
  maxBodyBytes?: number;
  /** Request and idle timeouts, connection caps (defaults: `defaultConnectionLimits`). */
  connections?: ConnectionLimits;
}

export interface RunningServer {
  /** The port actually bound (useful with port 0). */
  port: number;
  /** Stops accepting, lets calls in flight finish (bounded by the shutdown timeout), then closes every connection. */
  close(): Promise<void>;
}

/** The first bytes of every HTTP/2 connection (RFC 9113 §3.4). */
const http2Preface = Buffer.from("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n");
/** A client that opens a connection and says nothing is dropped after this long. */
const sniffTimeoutMs = 10_000;

/**
 * Serves the app on one port for every protocol. Cleartext: a net.Server reads the first
 * bytes of each connection and hands it to an HTTP/2 server (gRPC, and Connect/gRPC-web over
 * h2c) or an HTTP/1.1 server (REST, Connect, gRPC-web); Node's cleartext HTTP/2 server cannot
 * take HTTP/1.1 itself. With TLS, ALPN does the same natively.
 */
export async function startServer(options: ServerOptions): Promise<RunningServer> {
  const { app, logger, shutdownTimeoutMs = 10_000 } = options;
  /** Every TCP connection, to cut at the shutdown timeout. */
  const connections = new Set<net.Socket>();
  /** Cleartext connections whose first bytes are still awaited; nothing is in flight on them. */
  const sniffing = new Set<net.Socket>();
  /** Connections speaking HTTP/1.1 (the TCP or TLS socket), with their requests in flight. */
  const h1InFlight = new Map<net.Socket, number>();
  const sessions = new Set<http2.Http2Session>();
  let closing = false;

  const onRequest = (req: NodeRequest, res: NodeResponse) => {
    if (req.httpVersionMajor === 1) trackH1Request(req.socket, res);
    const contextValues = createContextValues().set(clientAddressKey, req.socket.remoteAddress);
    let call;
    try {
      call = nodeCallOf(req, res, contextValues);
    } catch (err) {
      logger.debug("unusable request", { err }); // e.g. HTTP/1.0 without a Host header
      res.writeHead(400).end();
      return;
    }
    app
      .handle(call.request)
      .then((uRes) => writeResponse(uRes, res))
      .then(call.answered)
      .catch((err: unknown) => {
        // Mostly clients that went away mid-response; nothing useful can be sent any more.
        logger.debug("response not completed", { err });
        if (!res.headersSent) res.writeHead(500).end();
        else res.destroy();
      });
  };

  const limits = options.connections ?? defaultConnectionLimits;
  const gate = createConnectionGate(limits.maxPerIp);
  /** Tracks a new connection; false (and the connection closed) when it is over the per-address cap. */
  const trackConnection = (socket: net.Socket): boolean => {
    if (!gate.admit(socket)) {
      socket.destroy();
      return false;
    }
    connections.add(socket);
    socket.once("close", () => connections.delete(socket));
    // Once we have said everything while shutting down, a client that keeps its half of the
    // connection open (seen with HTTP/2 clients after GOAWAY) must not hold up the close.
    socket.once("finish", () => closing && socket.destroy());
    return true;
  };
  const trackH1Connection = (socket: net.Socket) => {
    h1InFlight.set(socket, 0);
    socket.once("close", () => h1InFlight.delete(socket));
  };
  function trackH1Request(socket: net.Socket, res: NodeResponse) {
    h1InFlight.set(socket, (h1InFlight.get(socket) ?? 0) + 1);
    if (closing && !res.headersSent) res.setHeader("connection", "close");
    res.once("close", () => {
      const left = (h1InFlight.get(socket) ?? 1) - 1;
      h1InFlight.set(socket, left);
      if (closing && left === 0) socket.end();
    });
  }
  const trackSession = (session: http2.ServerHttp2Session) => {
    boundHttp2Session(session, limits);
    sessions.add(session);
    session.once("close", () => sessions.delete(session));
    if (closing) session.close();
  };

  // A client that sends its headers or body a byte at a time would hold a connection for Node's
  // default minute (headers) or five (body).
  const headersTimeout = options.headersTimeoutMs ?? 10_000;
  const h1Options = http1TimeoutOptions(headersTimeout, limits.requestTimeoutMs);
  const extensionMethods = { handle: (req: Parameters<UniversalApp["handle"]>[0]) => app.handle(req), logger, maxBodyBytes: options.maxBodyBytes ?? 1024 * 1024, headersTimeoutMs: headersTimeout };
  let listener: net.Server;
  let innerServers: net.Server[] = [];
  if (options.tls) {
    const server = http2.createSecureServer({ cert: options.tls.cert, key: options.tls.key, allowHTTP1: true, ...h1Options }, onRequest);
    server.on("connection", trackConnection);
    server.on("secureConnection", (socket: net.Socket & { alpnProtocol?: string | false }) => {
      if (socket.alpnProtocol !== "h2") trackH1Connection(socket);
    });
    server.on("session", trackSession);
    serveExtensionMethods(server, extensionMethods);
    listener = server;
  } else {
    const h1 = http.createServer(h1Options, onRequest);
    const h2 = http2.createServer(onRequest);
    h2.on("session", trackSession);
    serveExtensionMethods(h1, extensionMethods);
    innerServers = [h1, h2];
    listener = net.createServer((socket) => {
      if (!trackConnection(socket)) return;
      sniffing.add(socket);
      socket.once("close", () => sniffing.delete(socket));
      sniffProtocol(socket, (isHttp2) => {
        sniffing.delete(socket);
        if (!isHttp2) trackH1Connection(socket);
        (isHttp2 ? h2 : h1).emit("connection", socket);
        // The HTTP/1 parser waits for data events that never come on a paused socket.
        if (!isHttp2) socket.resume();
      });
    });
  }
  listener.on("error", (err) => logger.error("server error", { err }));
  listener.maxConnections = limits.max;

  await new Promise<void>((resolve, reject) => {
    listener.once("error", reject);
    listener.listen(options.port, options.host, () => {
      listener.off("error", reject);
      resolve();
    });
  });
  // The inner servers never listen themselves; without this their request timeouts are never armed.
  for (const server of innerServers) server.emit("listening");
  const port = (listener.address() as net.AddressInfo).port;
  logger.debug("listening", { port, host: options.host, tls: Boolean(options.tls) });

  let closed: Promise<void> | undefined;
  async function close(): Promise<void> {
    closing = true;
    app.drain();
    const allClosed = new Promise<void>((resolve) => listener.close(() => resolve()));
    for (const server of innerServers) server.close();
    for (const session of sessions) session.close(); // GOAWAY: no new streams, open ones finish
    // Idle keep-alive connections end now, busy ones after their last response (trackH1Request).
    for (const [socket, inFlight] of h1InFlight) if (inFlight === 0) socket.end();
    for (const socket of sniffing) socket.destroy();
    const timer = setTimeout(() => {
      logger.warn("shutdown timeout: closing connections with calls in flight", { connections: connections.size });
      for (const session of sessions) session.destroy();
      for (const socket of connections) socket.destroy();
    }, shutdownTimeoutMs);
    await allClosed;
    clearTimeout(timer);
  }

  return { port, close: () => (closed ??= close()) };
}

/** Reads until the bytes either are the HTTP/2 preface or cannot be, then puts them back and reports which. */
function sniffProtocol(socket: net.Socket, handOff: (isHttp2: boolean) => void) {
  let received = Buffer.alloc(0);
  const onData = (chunk: Buffer) => {
    received = Buffer.concat([received, chunk]);
    const n = Math.min(received.length, http2Preface.length);
    const isPrefix = received.subarray(0, n).equals(http2Preface.subarray(0, n));
    if (isPrefix && received.length < http2Preface.length) return;
    socket.off("data", onData);
    socket.off("error", onError);
    socket.setTimeout(0);
    socket.pause();
    socket.unshift(received);
    handOff(isPrefix);
  };
  const onError = () => socket.destroy();
  socket.on("data", onData);
  socket.on("error", onError);
  socket.setTimeout(sniffTimeoutMs, () => socket.destroy());
}

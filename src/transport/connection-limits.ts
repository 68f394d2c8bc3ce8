import * as http from "node:http";
import * as http2 from "node:http2";
import type * as net from "node:net";
import type { ConnectionLimits } from "../config.js";

// What bounds a connection the client holds open without using it: a cap on connections (in
// all and per client address), the time a request may take to arrive (headers, then the whole
// request), and how long an HTTP/2 connection without streams is kept. Long-lived streams are
// untouched: a watch's request ends at once, and an open stream keeps its session.

export const defaultConnectionLimits: ConnectionLimits = { requestTimeoutMs: 30_000, http2IdleTimeoutMs: 30_000, max: 10_000, maxPerIp: 1_000 };

/**
 * The HTTP/1.1 server's timeouts. Node checks them on an interval, so a slow client is cut up
 * to one interval after its deadline; the deadlines given to Node are shortened by that
 * interval so that the cut comes within the configured time, as documented.
 */
export function http1TimeoutOptions(headersTimeoutMs: number, requestTimeoutMs: number): http.ServerOptions {
  const interval = Math.max(50, Math.min(1_000, Math.floor(headersTimeoutMs / 10)));
  const headersTimeout = Math.max(interval, headersTimeoutMs - interval);
  return {
    headersTimeout,
    requestTimeout: Math.max(headersTimeout, requestTimeoutMs - interval),
    connectionsCheckingInterval: interval,
  };
}

/** Counts connections per client address; `admit` says whether one more may stay. */
export function createConnectionGate(maxPerIp: number): { admit(socket: net.Socket): boolean } {
  const open = new Map<string, number>();
  return {
    admit(socket) {
      if (maxPerIp === 0) return true;
      const address = socket.remoteAddress ?? "";
      const count = open.get(address) ?? 0;
      if (count >= maxPerIp) return false;
      open.set(address, count + 1);
      socket.once("close", () => {
        const left = (open.get(address) ?? 1) - 1;
        if (left > 0) open.set(address, left);
        else open.delete(address);
      });
      return true;
    },
  };
}

/**
 * Bounds an HTTP/2 session: closed (GOAWAY, so a client knows to reconnect) once it has had no
 * open stream for the idle timeout, and each stream reset (RST_STREAM CANCEL) when its request
 * has not ended within the request timeout.
 */
export function boundHttp2Session(session: http2.ServerHttp2Session, limits: Pick<ConnectionLimits, "requestTimeoutMs" | "http2IdleTimeoutMs">): void {
  let open = 0;
  let idle: NodeJS.Timeout | undefined;
  const armIdle = () => {
    idle = setTimeout(() => session.close(), limits.http2IdleTimeoutMs);
    idle.unref();
  };
  armIdle();
  session.on("stream", (stream: http2.ServerHttp2Stream) => {
    open++;
    clearTimeout(idle);
    // A request whose headers ended it (END_STREAM) has arrived whole already.
    const body = stream.endAfterHeaders ? undefined : setTimeout(() => stream.close(http2.constants.NGHTTP2_CANCEL), limits.requestTimeoutMs);
    body?.unref();
    stream.once("end", () => clearTimeout(body));
    stream.once("close", () => {
      clearTimeout(body);
      if (--open === 0 && !session.closed && !session.destroyed) armIdle();
    });
  });
  session.once("close", () => clearTimeout(idle));
}

// One HTTP POST of a signed delivery, behind the SSRF guard, with an overall timeout and no
// redirects (a 3xx is a failed attempt like any other non-2xx).
import dns from "node:dns";
import http from "node:http";
import https from "node:https";
import { performance } from "node:perf_hooks";
import { checkHostWithoutDns, createGuardedLookup, parseWebhookUrl, SsrfRefusedError, type AllowList } from "./ssrf-guard.js";

/** What one attempt got: a status (with Retry-After), or an error text; and how long it took. */
export interface SendResult {
  statusCode?: number;
  retryAfter?: string;
  error?: string;
  latencyMs: number;
}

/** Sends one delivery. */
export interface WebhookSender {
  send(url: string, headers: Record<string, string>, body: string): Promise<SendResult>;
}

export interface WebhookSenderOptions {
  timeoutMs: number;
  allow: AllowList;
  /** The resolver behind the guarded lookup (the system's by default). */
  resolve?: typeof dns.lookup;
  userAgent?: string;
}

/** Response bodies are read and discarded; past this size the connection is closed. */
const MAX_RESPONSE_BYTES = 64 * 1024;

/** Creates the sender: http(s).request with the guarded lookup, checking IP literals before connecting. */
export function createWebhookSender(options: WebhookSenderOptions): WebhookSender {
  const lookup = createGuardedLookup(options.allow, options.resolve);
  const userAgent = options.userAgent ?? "ScaiVault-Webhooks/1";
  return {
    send(target, headers, body) {
      const started = performance.now();
      const elapsed = () => Math.round(performance.now() - started);
      let url: URL;
      try {
        url = parseWebhookUrl(target);
        // IP literals never reach `lookup`, so they are checked here, before any socket exists.
        checkHostWithoutDns(url, options.allow);
      } catch (err) {
        return Promise.resolve({ error: err instanceof SsrfRefusedError ? `refused: ${err.message}` : "invalid url", latencyMs: elapsed() });
      }
      const client = url.protocol === "https:" ? https : http;
      return new Promise<SendResult>((resolve) => {
        let settled = false;
        const finish = (result: Omit<SendResult, "latencyMs">) => {
          if (settled) return;
          settled = true;
          clearTimeout(timer);
          resolve({ ...result, latencyMs: elapsed() });
        };
        const req = client.request(
          url,
          {
            method: "POST",
            agent: false,
            lookup,
            headers: {
              ...headers,
              "content-type": "application/json",
              "content-length": String(Buffer.byteLength(body)),
              "user-agent": userAgent,
              connection: "close",
            },
          },
          (res) => {
            const outcome = { statusCode: res.statusCode, retryAfter: headerText(res.headers["retry-after"]) };
            let size = 0;
            res.on("data", (chunk: Buffer) => {
              size += chunk.length;
              if (size > MAX_RESPONSE_BYTES) {
                finish(outcome);
                res.destroy();
              }
            });
            res.on("end", () => finish(outcome));
            res.on("close", () => finish(outcome));
            res.on("error", () => finish(outcome));
          },
        );
        const timedOut = `timed out after ${options.timeoutMs} ms`;
        let expired = false;
        const timer = setTimeout(() => {
          expired = true;
          req.destroy(new Error(timedOut));
        }, options.timeoutMs);
        req.on("error", (err: NodeJS.ErrnoException) => finish({ error: expired ? timedOut : describeError(err) }));
        req.end(body);
      });
    },
  };
}

function headerText(value: string | string[] | undefined): string | undefined {
  return Array.isArray(value) ? value[0] : value;
}

// Delivery records show our own words for a failure, never the runtime's message (which can name
// internal addresses or carry a library's internals).
const networkErrors: Record<string, string> = {
  ECONNREFUSED: "connection refused",
  ECONNRESET: "connection reset",
  ETIMEDOUT: "connection timed out",
  EHOSTUNREACH: "host unreachable",
  ENETUNREACH: "network unreachable",
  ENOTFOUND: "host name not found",
  EAI_AGAIN: "host name lookup failed",
  EPIPE: "connection closed while sending",
  CERT_HAS_EXPIRED: "TLS certificate expired",
  DEPTH_ZERO_SELF_SIGNED_CERT: "TLS certificate not trusted",
  SELF_SIGNED_CERT_IN_CHAIN: "TLS certificate not trusted",
  UNABLE_TO_VERIFY_LEAF_SIGNATURE: "TLS certificate not trusted",
  ERR_TLS_CERT_ALTNAME_INVALID: "TLS certificate does not match the host",
};

function describeError(err: NodeJS.ErrnoException): string {
  if (err instanceof SsrfRefusedError) return `refused: ${err.message}`;
  const known = err.code ? networkErrors[err.code] : undefined;
  if (known) return known;
  return err.code && /^[A-Z0-9_]+$/.test(err.code) ? `connection failed (${err.code})` : "connection failed";
}

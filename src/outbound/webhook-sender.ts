// One HTTP POST of a delivery (a signed webhook, a Slack message) through the guarded HTTP
// exchange: SSRF guard, overall timeout, no redirects (a 3xx is a failed attempt like any other
// non-2xx). Failures come back as the delivery record's words, never as a throw.
import type dns from "node:dns";
import { performance } from "node:perf_hooks";
import { exchangeGuarded, type GuardedFailure } from "./guarded-http.js";
import { createGuardedLookup, type AllowList } from "./ssrf-guard.js";

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

/** Creates the sender: one guarded POST per attempt; the answer's body is read and dropped. */
export function createWebhookSender(options: WebhookSenderOptions): WebhookSender {
  const lookup = createGuardedLookup(options.allow, options.resolve);
  const userAgent = options.userAgent ?? "ScaiVault-Webhooks/1";
  return {
    async send(url, headers, body) {
      const started = performance.now();
      const r = await exchangeGuarded(lookup, options.allow, { method: "POST", url, headers, body, timeoutMs: options.timeoutMs, userAgent, maxResponseBytes: MAX_RESPONSE_BYTES, answerBody: "discard" });
      const latencyMs = Math.round(performance.now() - started);
      if ("answer" in r) return { statusCode: r.answer.status, retryAfter: r.answer.retryAfter, latencyMs };
      return { error: deliveryWords(r.failure), latencyMs };
    },
  };
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

/** The words a delivery record shows for a failure. */
function deliveryWords(failure: GuardedFailure): string {
  switch (failure.kind) {
    case "refused":
      return `refused: ${failure.message}`;
    case "invalid-url":
      return "invalid url";
    case "timeout":
      return `timed out after ${failure.ms} ms`;
    case "network": {
      const known = failure.code ? networkErrors[failure.code] : undefined;
      if (known) return known;
      return failure.code && /^[A-Z0-9_]+$/.test(failure.code) ? `connection failed (${failure.code})` : "connection failed";
    }
    default:
      return "connection failed"; // aborted, too large and cut off happen only to answers whose body is kept
  }
}

// Guarded HTTP: the one HTTP exchange of every outbound call (webhook and Slack deliveries, the
// webhook provider, the propagation check), behind the SSRF guard, with an overall timeout, no
// redirects and a bounded answer; and the guard's helpers for SDKs and drivers that connect
// themselves. The caller decides what a status means; nothing here ever logs a body.
import http from "node:http";
import https from "node:https";
import type dns from "node:dns";
import type { LookupFunction } from "node:net";
import { checkHostWithoutDns, createGuardedLookup, parseWebhookUrl, SsrfRefusedError, type AllowList } from "./ssrf-guard.js";
import { ScaiVaultError } from "../errors.js";

export interface GuardedHttpOptions {
  allow: AllowList;
  timeoutMs: number;
  /** Answers over this many bytes fail the request (default 64 KiB). */
  maxResponseBytes?: number;
  resolve?: typeof dns.lookup;
}

export interface GuardedRequest {
  method: "GET" | "POST";
  url: string;
  headers?: Record<string, string>;
  body?: string;
  signal?: AbortSignal;
  /** Overrides the client's timeout for this request. */
  timeoutMs?: number;
}

export interface GuardedResponse {
  status: number;
  body: string;
}

const DEFAULT_MAX_RESPONSE_BYTES = 64 * 1024;

/** A function that sends one guarded request; failures throw `unavailable` with a message that names no value. */
export type GuardedHttp = (req: GuardedRequest) => Promise<GuardedResponse>;

/** Why a guarded request got no answer; each caller words it its own way (nothing here names a value). */
export type GuardedFailure =
  | { kind: "refused"; message: string }
  | { kind: "invalid-url" }
  | { kind: "timeout"; ms: number }
  | { kind: "aborted" }
  | { kind: "network"; code?: string }
  | { kind: "too-large"; maxBytes: number }
  | { kind: "cut-off" };

/** One request as the core sends it. */
export interface GuardedExchange {
  method: "GET" | "POST";
  url: string;
  headers?: Record<string, string>;
  body?: string;
  timeoutMs: number;
  signal?: AbortSignal;
  userAgent: string;
  maxResponseBytes: number;
  /**
   * `keep`: the answer's body is read (over the limit, or cut off, the request fails);
   * `discard`: only the status counts, the body is read and dropped and closed past the limit.
   */
  answerBody: "keep" | "discard";
}

/** What came back: the status, Retry-After, and the body when it was kept. */
export interface GuardedAnswer {
  status: number;
  retryAfter?: string;
  body: string;
}

/**
 * The one HTTP exchange behind every outbound call: the SSRF guard on the host (IP literals
 * here, names in the guarded `lookup`, so the socket connects to a checked address), no agent
 * pool, no redirects, an overall timeout and a bounded answer.
 */
export function exchangeGuarded(lookup: LookupFunction, allow: AllowList, req: GuardedExchange): Promise<{ answer: GuardedAnswer } | { failure: GuardedFailure }> {
  let url: URL;
  try {
    url = parseWebhookUrl(req.url);
    // IP literals never reach `lookup`, so they are checked here, before any socket exists.
    checkHostWithoutDns(url, allow);
  } catch (err) {
    return Promise.resolve({ failure: err instanceof SsrfRefusedError ? { kind: "refused", message: err.message } : { kind: "invalid-url" } });
  }
  const client = url.protocol === "https:" ? https : http;
  return new Promise((resolve) => {
    let settled = false;
    const settle = (result: { answer: GuardedAnswer } | { failure: GuardedFailure }) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      resolve(result);
    };
    const fail = (failure: GuardedFailure) => {
      settle({ failure });
      request.destroy();
    };
    const request = client.request(
      url,
      {
        method: req.method,
        agent: false,
        lookup,
        headers: {
          ...req.headers,
          ...(req.body !== undefined ? { "content-type": "application/json", "content-length": String(Buffer.byteLength(req.body)) } : {}),
          "user-agent": req.userAgent,
          connection: "close",
        },
      },
      (res) => {
        const retryAfter = headerText(res.headers["retry-after"]);
        const answered = (body = "") => settle({ answer: { status: res.statusCode ?? 0, retryAfter, body } });
        const chunks: Buffer[] = [];
        let size = 0;
        res.on("data", (chunk: Buffer) => {
          size += chunk.length;
          if (size <= req.maxResponseBytes) {
            if (req.answerBody === "keep") chunks.push(chunk);
          } else if (req.answerBody === "keep") {
            fail({ kind: "too-large", maxBytes: req.maxResponseBytes });
          } else {
            answered();
            res.destroy();
          }
        });
        res.on("end", () => answered(Buffer.concat(chunks).toString("utf8")));
        if (req.answerBody === "keep") {
          res.on("error", () => fail({ kind: "cut-off" }));
        } else {
          res.on("close", () => answered());
          res.on("error", () => answered());
        }
      },
    );
    const timer = setTimeout(() => fail({ kind: "timeout", ms: req.timeoutMs }), req.timeoutMs);
    req.signal?.addEventListener("abort", () => fail({ kind: "aborted" }), { once: true });
    request.on("error", (err: NodeJS.ErrnoException) => fail(err instanceof SsrfRefusedError ? { kind: "refused", message: err.message } : { kind: "network", code: err.code }));
    request.end(req.body);
  });
}

function headerText(value: string | string[] | undefined): string | undefined {
  return Array.isArray(value) ? value[0] : value;
}

/** Creates the guarded HTTP client. */
export function createGuardedHttp(options: GuardedHttpOptions): GuardedHttp {
  const lookup = createGuardedLookup(options.allow, options.resolve);
  const maxResponseBytes = options.maxResponseBytes ?? DEFAULT_MAX_RESPONSE_BYTES;
  return async (req) => {
    const timeoutMs = req.timeoutMs ?? options.timeoutMs;
    const r = await exchangeGuarded(lookup, options.allow, { ...req, timeoutMs, userAgent: "ScaiVault-Rotation/1", maxResponseBytes, answerBody: "keep" });
    if ("answer" in r) return { status: r.answer.status, body: r.answer.body };
    throw new ScaiVaultError("unavailable", providerWords(r.failure));
  };
}

/** The providers' words for a failure (they reach the rotation run's error). */
function providerWords(failure: GuardedFailure): string {
  switch (failure.kind) {
    case "refused":
      return `request refused: ${failure.message}`;
    case "invalid-url":
      return "request refused: url is not valid";
    case "timeout":
      return `no answer within ${failure.ms} ms`;
    case "aborted":
      return "aborted";
    case "network":
      return `connection failed (${failure.code ?? "error"})`;
    case "too-large":
      return `answer is over ${failure.maxBytes} bytes`;
    case "cut-off":
      return "the answer was cut off";
  }
}

/**
 * Configure-time check of a provider's target (IAM endpoint, Stripe API host, PostgreSQL host):
 * the webhooks' SSRF guard without DNS, so a private, link-local or metadata address (and a
 * loopback name) is refused unless SCAIVAULT_WEBHOOK_ALLOW_HOSTS allows it. `field` names the
 * setting in the error.
 */
export function refuseGuardedHost(host: string, allow: AllowList, field: string): void {
  let url: URL;
  try {
    url = new URL(`http://${host.includes(":") && !host.startsWith("[") ? `[${host}]` : host}/`);
  } catch {
    throw new ScaiVaultError("invalid_request", `${field} is not a valid host`);
  }
  try {
    checkHostWithoutDns(url, allow);
  } catch (err) {
    if (err instanceof SsrfRefusedError) throw new ScaiVaultError("invalid_request", `${field}: ${err.message}`);
    throw err;
  }
}

/** HTTP and HTTPS agents whose DNS lookup passes every address through the SSRF guard (for SDKs that take an agent). */
export function createGuardedAgents(allow: AllowList, resolve?: typeof dns.lookup): { http: http.Agent; https: https.Agent } {
  const lookup = createGuardedLookup(allow, resolve);
  return { http: new http.Agent({ lookup }), https: new https.Agent({ lookup }) };
}

/**
 * Resolves `host` to one address the SSRF guard allows, for clients that take no lookup (pg):
 * they then connect to exactly the checked address. Refusals are `unavailable` naming the host.
 */
export function resolveGuardedHost(host: string, allow: AllowList, resolve?: typeof dns.lookup): Promise<string> {
  const lookup = createGuardedLookup(allow, resolve);
  return new Promise((resolvePromise, reject) => {
    lookup(host, { all: false }, (err, address) => {
      if (err) return reject(new ScaiVaultError("unavailable", err instanceof SsrfRefusedError ? `request refused: ${err.message}` : `${host} did not resolve (${(err as NodeJS.ErrnoException).code ?? "error"})`));
      resolvePromise(address as string);
    });
  });
}

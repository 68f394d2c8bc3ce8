// One HTTP request from a rotation to a customer's endpoint (the webhook provider, the propagation
// check): behind the webhooks' SSRF guard, with an overall timeout, no redirects, and a bounded
// answer. The caller decides what a status means; nothing here ever logs a body.
import http from "node:http";
import https from "node:https";
import type dns from "node:dns";
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

/** Creates the guarded HTTP client. */
export function createGuardedHttp(options: GuardedHttpOptions): GuardedHttp {
  const lookup = createGuardedLookup(options.allow, options.resolve);
  const maxBytes = options.maxResponseBytes ?? DEFAULT_MAX_RESPONSE_BYTES;
  return (req) => {
    let url: URL;
    try {
      url = parseWebhookUrl(req.url);
      checkHostWithoutDns(url, options.allow);
    } catch (err) {
      const reason = err instanceof SsrfRefusedError ? err.message : "url is not valid";
      return Promise.reject(new ScaiVaultError("unavailable", `request refused: ${reason}`));
    }
    const client = url.protocol === "https:" ? https : http;
    return new Promise<GuardedResponse>((resolve, reject) => {
      let settled = false;
      const fail = (message: string) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        request.destroy();
        reject(new ScaiVaultError("unavailable", message));
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
            "user-agent": "ScaiVault-Rotation/1",
            connection: "close",
          },
        },
        (res) => {
          const chunks: Buffer[] = [];
          let size = 0;
          res.on("data", (chunk: Buffer) => {
            size += chunk.length;
            if (size > maxBytes) return fail(`answer is over ${maxBytes} bytes`);
            chunks.push(chunk);
          });
          res.on("end", () => {
            if (settled) return;
            settled = true;
            clearTimeout(timer);
            resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString("utf8") });
          });
          res.on("error", () => fail("the answer was cut off"));
        },
      );
      const timeoutMs = req.timeoutMs ?? options.timeoutMs;
      const timer = setTimeout(() => fail(`no answer within ${timeoutMs} ms`), timeoutMs);
      req.signal?.addEventListener("abort", () => fail("aborted"), { once: true });
      request.on("error", (err: NodeJS.ErrnoException) => fail(err instanceof SsrfRefusedError ? `request refused: ${err.message}` : `connection failed (${err.code ?? "error"})`));
      request.end(req.body);
    });
  };
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

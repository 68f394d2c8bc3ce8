// One HTTP request from a rotation to a customer's endpoint (the webhook provider, the propagation
// check): behind the webhooks' SSRF guard, with an overall timeout, no redirects, and a bounded
// answer. The caller decides what a status means; nothing here ever logs a body.
import http from "node:http";
import https from "node:https";
import type dns from "node:dns";
import { checkHostWithoutDns, createGuardedLookup, parseWebhookUrl, SsrfRefusedError, type AllowList } from "../../webhooks/ssrf-guard.js";
import { ScaiVaultError } from "../../errors.js";

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

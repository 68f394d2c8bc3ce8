import { ScaiVaultError } from "./errors.js";

// Standard Webhooks verification on WebCrypto, so that it runs unchanged in Node (>= 20),
// browsers, Deno, Bun and edge runtimes. Kept separate from the service's own signer on purpose:
// the client package must not depend on the server's code.

/** The JSON body ScaiVault delivers to a webhook. */
export interface WebhookEvent<D = Record<string, unknown>> {
  /** `evt_...`; the same on every retry of one event (use it to drop duplicates). */
  id: string;
  event_type: string;
  created_at: string;
  tenant_id: string;
  path: string | null;
  data: D;
}

/** Request headers as a Fetch `Headers` or Node's `IncomingHttpHeaders`. */
export type WebhookHeaders = Headers | Record<string, string | string[] | undefined>;

/** Options of `verifyWebhook`. */
export interface VerifyWebhookOptions {
  /** How far `webhook-timestamp` may be from now, in seconds (default 300). */
  toleranceSeconds?: number;
  /** The receiver's clock (default the wall clock). */
  now?: Date | number;
}

const prefix = "whsec_";
const encoder = new TextEncoder();

function headerOf(headers: WebhookHeaders, name: string): string | undefined {
  if (typeof (headers as Headers).get === "function") return (headers as Headers).get(name) ?? undefined;
  const record = headers as Record<string, string | string[] | undefined>;
  const key = Object.keys(record).find((k) => k.toLowerCase() === name);
  const value = key === undefined ? undefined : record[key];
  return Array.isArray(value) ? value.join(" ") : value;
}

function base64Bytes(text: string): Uint8Array<ArrayBuffer> | undefined {
  try {
    return Uint8Array.from(atob(text), (c) => c.charCodeAt(0));
  } catch {
    return undefined;
  }
}

function invalid(message: string): ScaiVaultError {
  return new ScaiVaultError("invalid_signature", message);
}

/**
 * Verifies a webhook delivery as its receiver and returns the parsed event. Give the body exactly
 * as received (before any JSON parsing), the request headers, and the webhook's `whsec_` secret.
 * Accepts any of several space-separated `v1,` signatures (secret rotation) and a timestamp
 * within the tolerance; the HMAC is compared in constant time by WebCrypto. Throws a
 * ScaiVaultError with code `invalid_signature` (or `invalid_webhook_secret` for a malformed secret).
 */
export async function verifyWebhook<E = WebhookEvent>(
  secret: string,
  headers: WebhookHeaders,
  body: string | Uint8Array,
  options: VerifyWebhookOptions = {},
): Promise<E> {
  const keyBytes = secret.startsWith(prefix) ? base64Bytes(secret.slice(prefix.length)) : undefined;
  if (!keyBytes || keyBytes.length === 0) throw new ScaiVaultError("invalid_webhook_secret", `a webhook secret is ${prefix} followed by base64`);

  const id = headerOf(headers, "webhook-id");
  const timestampText = headerOf(headers, "webhook-timestamp");
  const signatures = headerOf(headers, "webhook-signature");
  if (!id || !timestampText || !signatures) throw invalid("webhook-id, webhook-timestamp and webhook-signature are required");
  if (!/^\d{1,15}$/.test(timestampText)) throw invalid("webhook-timestamp is not Unix seconds");
  const nowMs = options.now === undefined ? Date.now() : new Date(options.now).getTime();
  if (Math.abs(Math.floor(nowMs / 1000) - Number(timestampText)) > (options.toleranceSeconds ?? 300)) {
    throw invalid("webhook-timestamp is too old or too far in the future");
  }

  const bodyBytes = typeof body === "string" ? encoder.encode(body) : body;
  const head = encoder.encode(`${id}.${timestampText}.`);
  const signed = new Uint8Array(head.length + bodyBytes.length);
  signed.set(head);
  signed.set(bodyBytes, head.length);
  const key = await crypto.subtle.importKey("raw", keyBytes, { name: "HMAC", hash: "SHA-256" }, false, ["verify"]);
  for (const candidate of signatures.split(" ")) {
    const [version, encoded] = candidate.split(",", 2);
    const given = version === "v1" && encoded ? base64Bytes(encoded) : undefined;
    if (given && (await crypto.subtle.verify("HMAC", key, given, signed))) {
      return JSON.parse(new TextDecoder().decode(bodyBytes)) as E;
    }
  }
  throw invalid("no webhook-signature matches");
}

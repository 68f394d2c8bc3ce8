// Standard Webhooks 1.0 signing and verification. Pure (node:crypto only) so that the client
// package can re-export `verifyWebhook` for receivers without pulling in the service.
import { createHmac, randomBytes, timingSafeEqual } from "node:crypto";

/** The prefix of a webhook signing secret: `whsec_` + base64 of the HMAC key bytes. */
export const webhookSecretPrefix = "whsec_";
/** Key sizes the Standard Webhooks scheme allows. */
export const webhookSecretMinBytes = 24;
export const webhookSecretMaxBytes = 64;
/** How far a `webhook-timestamp` may be from the receiver's clock. */
export const defaultToleranceSeconds = 5 * 60;

/** Why a secret or a signed request was rejected; `code` is stable for `switch`. */
export class WebhookVerificationError extends Error {
  override readonly name = "WebhookVerificationError";
  constructor(
    readonly code: "invalid_secret" | "missing_header" | "invalid_timestamp" | "timestamp_out_of_tolerance" | "no_matching_signature",
    message: string,
  ) {
    super(message);
  }
}

const base64Pattern = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;

/** A new random secret: `whsec_` + base64 of 32 bytes. */
export function generateWebhookSecret(bytes = 32): string {
  if (bytes < webhookSecretMinBytes || bytes > webhookSecretMaxBytes) throw new RangeError(`webhook secrets are ${webhookSecretMinBytes} to ${webhookSecretMaxBytes} bytes`);
  return webhookSecretPrefix + randomBytes(bytes).toString("base64");
}

/** The HMAC key of a `whsec_` secret (the decoded bytes); throws `invalid_secret` on anything else. */
export function decodeWebhookSecret(secret: string): Buffer {
  if (typeof secret !== "string" || !secret.startsWith(webhookSecretPrefix)) {
    throw new WebhookVerificationError("invalid_secret", `a webhook secret starts with ${webhookSecretPrefix}`);
  }
  const encoded = secret.slice(webhookSecretPrefix.length);
  if (encoded.length === 0 || !base64Pattern.test(encoded)) {
    throw new WebhookVerificationError("invalid_secret", `a webhook secret is ${webhookSecretPrefix} followed by standard base64`);
  }
  const key = Buffer.from(encoded, "base64");
  if (key.length < webhookSecretMinBytes || key.length > webhookSecretMaxBytes) {
    throw new WebhookVerificationError("invalid_secret", `a webhook secret decodes to ${webhookSecretMinBytes} to ${webhookSecretMaxBytes} bytes`);
  }
  return key;
}

function keyOf(secret: string | Uint8Array): Uint8Array {
  return typeof secret === "string" ? decodeWebhookSecret(secret) : secret;
}

function bodyBytes(body: string | Uint8Array): Buffer {
  return typeof body === "string" ? Buffer.from(body, "utf8") : Buffer.from(body.buffer, body.byteOffset, body.byteLength);
}

/** `v1,<base64 HMAC-SHA256 of "id.timestamp.body">` for one message at one attempt time (Unix seconds). */
export function signWebhook(secret: string | Uint8Array, id: string, timestamp: number, body: string | Uint8Array): string {
  const mac = createHmac("sha256", keyOf(secret));
  mac.update(`${id}.${timestamp}.`, "utf8");
  mac.update(bodyBytes(body));
  return `v1,${mac.digest("base64")}`;
}

/** The three headers of a signed delivery. */
export function webhookHeaders(secret: string | Uint8Array, id: string, timestamp: number, body: string | Uint8Array): Record<string, string> {
  return {
    "webhook-id": id,
    "webhook-timestamp": String(timestamp),
    "webhook-signature": signWebhook(secret, id, timestamp, body),
  };
}

/** Request headers as a Fetch `Headers` or Node's `IncomingHttpHeaders`. */
export type HeaderSource = Headers | Record<string, string | string[] | undefined>;

function header(headers: HeaderSource, name: string): string | undefined {
  if (typeof (headers as Headers).get === "function") return (headers as Headers).get(name) ?? undefined;
  const record = headers as Record<string, string | string[] | undefined>;
  const key = Object.keys(record).find((k) => k.toLowerCase() === name);
  const value = key === undefined ? undefined : record[key];
  return Array.isArray(value) ? value.join(" ") : value;
}

export interface VerifyOptions {
  /** The receiver's clock; defaults to the wall clock. */
  now?: Date | number;
  toleranceSeconds?: number;
}

/**
 * Verifies a delivery as a receiver: the raw body exactly as received, the three headers, the
 * shared secret. Accepts any of several space-separated `v1,` signatures (key rotation) and a
 * timestamp within ±5 minutes; compares in constant time. Returns the parsed JSON body.
 */
export function verifyWebhook<T = unknown>(secret: string | Uint8Array, headers: HeaderSource, body: string | Uint8Array, options: VerifyOptions = {}): T {
  const id = header(headers, "webhook-id");
  const timestampText = header(headers, "webhook-timestamp");
  const signatures = header(headers, "webhook-signature");
  if (!id || !timestampText || !signatures) {
    throw new WebhookVerificationError("missing_header", "webhook-id, webhook-timestamp and webhook-signature are required");
  }
  if (!/^\d{1,15}$/.test(timestampText)) throw new WebhookVerificationError("invalid_timestamp", "webhook-timestamp is not Unix seconds");
  const timestamp = Number(timestampText);
  const nowMs = options.now === undefined ? Date.now() : typeof options.now === "number" ? options.now : options.now.getTime();
  const tolerance = options.toleranceSeconds ?? defaultToleranceSeconds;
  if (Math.abs(Math.floor(nowMs / 1000) - timestamp) > tolerance) {
    throw new WebhookVerificationError("timestamp_out_of_tolerance", "webhook-timestamp is too old or too far in the future");
  }
  const expected = Buffer.from(signWebhook(secret, id, timestamp, body).slice("v1,".length), "base64");
  for (const candidate of signatures.split(" ")) {
    const [version, encoded] = candidate.split(",", 2);
    if (version !== "v1" || !encoded) continue;
    const given = Buffer.from(encoded, "base64");
    if (given.length === expected.length && timingSafeEqual(given, expected)) {
      return JSON.parse(bodyBytes(body).toString("utf8")) as T;
    }
  }
  throw new WebhookVerificationError("no_matching_signature", "no webhook-signature matches");
}

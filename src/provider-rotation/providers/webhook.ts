// The custom-webhook provider: the customer's endpoint issues the new value. Its contract is the
// prior art's, kept verbatim so existing endpoints work unchanged:
//   POST url, Content-Type: application/json, X-Webhook-Secret: <secret>
//   {"action": "rotate", "currentValue", "timestamp", "path"} → 2xx {"newValue", "expiresAt"?, "metadata"?}
//   with revoke: true, {"action": "revoke", "previousValue", "timestamp", "path"} → 2xx
//   with test: true (pre-flight), {"action": "test", "timestamp", "path"} → 2xx, 401 for a wrong secret, changing nothing
import { ScaiVaultError } from "../../errors.js";
import { checkHostWithoutDns, parseWebhookUrl, SsrfRefusedError, type AllowList } from "../../outbound/ssrf-guard.js";
import { createGuardedHttp, type GuardedHttp } from "../../outbound/guarded-http.js";
import type { CredentialData, ProviderCall, RotationProvider } from "./provider.js";
import { failed, passed, type PreflightCheck } from "./preflight.js";

export interface WebhookProviderDeps {
  /** The webhooks' allow-list (SCAIVAULT_WEBHOOK_ALLOW_HOSTS): the same SSRF guard applies. */
  allow: AllowList;
  /** Timeout of one call (SCAIVAULT_WEBHOOK_TIMEOUT). */
  timeoutMs: number;
  /** Answers over this many bytes fail the step (default 64 KiB). */
  maxResponseBytes?: number;
}

interface WebhookConfig {
  url: string;
  field?: string;
  revoke: boolean;
  test: boolean;
}

const CONFIG_KEYS = new Set(["url", "field", "revoke", "test"]);

/** Creates the `webhook` provider. */
export function createWebhookProvider(deps: WebhookProviderDeps): RotationProvider {
  const send: GuardedHttp = createGuardedHttp({ allow: deps.allow, timeoutMs: deps.timeoutMs, maxResponseBytes: deps.maxResponseBytes });

  async function post(call: ProviderCall, body: Record<string, unknown>): Promise<{ status: number; body: string }> {
    const config = configOf(call.config);
    const secret = String(call.credentials?.secret ?? "");
    const res = await send({
      method: "POST",
      url: config.url,
      headers: { "x-webhook-secret": secret },
      body: JSON.stringify({ ...body, timestamp: call.clock.now().toISOString(), path: call.path }),
      signal: call.signal,
    });
    if (res.status < 200 || res.status > 299) throw new ScaiVaultError("unavailable", `webhook answered ${res.status} to ${String(body.action)}`);
    return res;
  }

  async function revokeValue(call: ProviderCall, data: CredentialData, what: string) {
    const config = configOf(call.config);
    if (!config.revoke) return { summary: `no revoke call configured; the ${what} value stays valid at the endpoint` };
    const res = await post(call, { action: "revoke", previousValue: valueOf(config, data) });
    return { summary: `POST revoke ${res.status}` };
  }

  return {
    name: "webhook",
    validate(config, credentials) {
      for (const key of Object.keys(config)) if (!CONFIG_KEYS.has(key)) throw new ScaiVaultError("invalid_request", `config.${key} is not a webhook setting (url, field, revoke, test)`);
      if (typeof config.url !== "string" || config.url === "") throw new ScaiVaultError("invalid_request", "config.url is required");
      try {
        checkHostWithoutDns(parseWebhookUrl(config.url), deps.allow);
      } catch (err) {
        throw new ScaiVaultError("invalid_request", `config.url: ${err instanceof SsrfRefusedError ? err.message : "not a valid URL"}`);
      }
      if (config.field !== undefined && (typeof config.field !== "string" || config.field === "")) throw new ScaiVaultError("invalid_request", "config.field must be a data key");
      if (config.revoke !== undefined && typeof config.revoke !== "boolean") throw new ScaiVaultError("invalid_request", "config.revoke must be true or false");
      if (config.test !== undefined && typeof config.test !== "boolean") throw new ScaiVaultError("invalid_request", "config.test must be true or false");
      if (!credentials || typeof credentials.secret !== "string" || credentials.secret === "") {
        throw new ScaiVaultError("invalid_request", "credentials.secret is required (sent as X-Webhook-Secret)");
      }
    },
    async create(call) {
      const config = configOf(call.config);
      const current = call.current ?? {};
      const res = await post(call, { action: "rotate", currentValue: valueOf(config, current) });
      let answer: unknown;
      try {
        answer = JSON.parse(res.body);
      } catch {
        throw new ScaiVaultError("unavailable", "webhook answer is not JSON");
      }
      if (!answer || typeof answer !== "object" || Array.isArray(answer)) throw new ScaiVaultError("unavailable", "webhook answer is not a JSON object");
      const { newValue, expiresAt, metadata } = answer as Record<string, unknown>;
      const data = dataWith(config, current, newValue);
      let expires: Date | undefined;
      if (expiresAt !== undefined && expiresAt !== null) {
        expires = new Date(String(expiresAt));
        if (Number.isNaN(expires.getTime())) throw new ScaiVaultError("unavailable", "webhook answer has an expiresAt that is not a date");
      }
      const kept = boundedMetadata(metadata);
      const dropped = kept.dropped > 0 ? `; metadata: ${kept.dropped} entr${kept.dropped === 1 ? "y" : "ies"} dropped (${METADATA_RULE})` : "";
      return { data, expiresAt: expires, metadata: kept.entries, summary: `POST rotate ${res.status}${dropped}` };
    },
    async test() {
      // The endpoint issued the value itself; there is no second system to try it against.
      return { summary: "issued by the endpoint; no separate test" };
    },
    preflight: (call) => preflightOf(send, call),
    revoke: (call, old) => revokeValue(call, old, "previous"),
    discard: (call, issued) => revokeValue(call, issued, "discarded"),
  };
}

/** The limits of the answer's `metadata`, as the run's step detail states them when entries are dropped. */
export const METADATA_LIMITS = { entries: 32, keyChars: 64, valueChars: 1024, totalChars: 8192 } as const;
const METADATA_KEY = /^[A-Za-z0-9._:-]+$/;
const METADATA_RULE = `kept: string, number and true/false values, keys of letters, digits and . _ : -, at most ${METADATA_LIMITS.entries} entries, keys up to ${METADATA_LIMITS.keyChars} and values up to ${METADATA_LIMITS.valueChars} characters, ${METADATA_LIMITS.totalChars} in all`;

/**
 * The answer's `metadata` within its limits: entries are taken in the answer's order, and one
 * that breaks a rule (a value that is an object, array or null, a key outside the alphabet, too long, or past
 * the entry or size limit) is dropped, not the rotation; numbers and booleans are kept as their
 * JSON text: the endpoint has already issued the
 * credential. A `metadata` that is not an object is dropped whole. Nothing is echoed: the count
 * of dropped entries goes in the step's summary.
 */
export function boundedMetadata(raw: unknown): { entries: Record<string, string> | undefined; dropped: number } {
  if (raw === undefined || raw === null) return { entries: undefined, dropped: 0 };
  if (typeof raw !== "object" || Array.isArray(raw)) return { entries: undefined, dropped: 1 };
  const entries: Record<string, string> = {};
  let count = 0;
  let total = 0;
  let dropped = 0;
  for (const [key, given] of Object.entries(raw as Record<string, unknown>)) {
    const value = typeof given === "number" || typeof given === "boolean" ? String(given) : given;
    const fits =
      typeof value === "string" &&
      key.length <= METADATA_LIMITS.keyChars &&
      METADATA_KEY.test(key) &&
      value.length <= METADATA_LIMITS.valueChars &&
      count < METADATA_LIMITS.entries &&
      total + key.length + value.length <= METADATA_LIMITS.totalChars;
    if (!fits) {
      dropped += 1;
      continue;
    }
    entries[key] = value;
    count += 1;
    total += key.length + value.length;
  }
  return { entries: count > 0 ? entries : undefined, dropped };
}

function configOf(config: Record<string, unknown>): WebhookConfig {
  return { url: String(config.url), field: typeof config.field === "string" ? config.field : undefined, revoke: config.revoke === true, test: config.test === true };
}

/**
 * The endpoint's pre-flight. Endpoints written to the prior contract may rotate on any POST, so a
 * POST is sent only when the binding says the endpoint knows `{"action": "test"}` (`config.test`);
 * otherwise a GET (which changes nothing) shows that it answers, and the secret is not checked.
 */
async function preflightOf(send: GuardedHttp, call: ProviderCall): Promise<PreflightCheck[]> {
  const config = configOf(call.config);
  const request = config.test
    ? { method: "POST" as const, url: config.url, headers: { "x-webhook-secret": String(call.credentials?.secret ?? "") }, body: JSON.stringify({ action: "test", timestamp: call.clock.now().toISOString(), path: call.path }) }
    : { method: "GET" as const, url: config.url };
  const what = config.test ? `{"action": "test"}` : "GET";
  let status: number;
  try {
    ({ status } = await send({ ...request, signal: call.signal }));
  } catch (err) {
    if (call.signal.aborted) throw err;
    return [failed("reachable", `the endpoint did not answer ${what}: ${err instanceof ScaiVaultError ? err.message : "request failed"}`)];
  }
  if (status >= 500) return [failed("reachable", `the endpoint answered ${status} to ${what}`)];
  const reachable = passed("reachable", `the endpoint answered ${status} to ${what}`);
  if (!config.test) {
    return [reachable, passed("credentials", `not checked: with config.test: true the endpoint gets {"action": "test"} and answers 2xx for the right X-Webhook-Secret, 401 for a wrong one`)];
  }
  if (status === 401 || status === 403) return [reachable, failed("credentials", `the endpoint refused the X-Webhook-Secret (credentials.secret): ${status}`)];
  if (status < 200 || status > 299) return [reachable, failed("config", `the endpoint answered ${status} to {"action": "test"}; with config.test: true it must answer 2xx (or leave config.test out)`)];
  return [reachable, passed("credentials", `the endpoint accepted the X-Webhook-Secret (${status})`)];
}

/** The field the endpoint rotates: `field`, else the only field, else none (the whole data object). */
function fieldOf(config: WebhookConfig, data: CredentialData): string | undefined {
  if (config.field) return config.field;
  const keys = Object.keys(data);
  return keys.length === 1 ? keys[0] : undefined;
}

/** `currentValue` / `previousValue`: the value of the rotated field, or the whole data object. */
function valueOf(config: WebhookConfig, data: CredentialData): unknown {
  const field = fieldOf(config, data);
  return field === undefined ? data : (data[field] ?? null);
}

/** The new version's data: the current data with the rotated field replaced, or the whole object the endpoint sent. */
function dataWith(config: WebhookConfig, current: CredentialData, newValue: unknown): CredentialData {
  if (newValue === undefined || newValue === null || newValue === "") throw new ScaiVaultError("unavailable", "webhook answer has no newValue");
  const field = fieldOf(config, current);
  if (field !== undefined) {
    if (typeof newValue !== "string") throw new ScaiVaultError("unavailable", "webhook answer's newValue must be a string");
    return { ...current, [field]: newValue };
  }
  if (typeof newValue !== "object" || Array.isArray(newValue)) throw new ScaiVaultError("unavailable", "webhook answer's newValue must be an object (the whole data)");
  return newValue as CredentialData;
}

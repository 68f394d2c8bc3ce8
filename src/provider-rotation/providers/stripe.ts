import { constants, generateKeyPairSync, privateDecrypt, randomUUID } from "node:crypto";
import type Stripe from "stripe";
import { ScaiVaultError } from "../../errors.js";
import type { AllowList } from "../../outbound/ssrf-guard.js";
import { createGuardedAgents, createGuardedHttp, refuseGuardedHost } from "../../outbound/guarded-http.js";
import type { CredentialData, IssuedCredential, ProviderCall, RotationProvider, StepOutcome } from "./provider.js";
import { optionalString, requireObject, requireString } from "./provider-support.js";
import { failed, passed, type PreflightCheck } from "./preflight.js";

/** What the stripe provider needs besides the call. */
export interface StripeProviderDeps {
  /** The webhooks' allow-list (SCAIVAULT_WEBHOOK_ALLOW_HOSTS): `config.api_base` passes the same SSRF guard. */
  allow: AllowList;
  /** The SDK's own retries of connection errors, 409 and 5xx, always with the same idempotency key (default 2). */
  maxNetworkRetries?: number;
  /** Per-request timeout (default 30 s). */
  timeoutMs?: number;
}

type StripeMode = "app_managed" | "supplied";

interface StripeConfig {
  mode: StripeMode;
  livemode: boolean;
  host: string | undefined;
  port: number | undefined;
  protocol: "http" | "https" | undefined;
  /** app_managed: the connected account the keys belong to, sent as Stripe-Context. */
  account: string | undefined;
  /** app_managed: the preview Stripe-Version of the v2 API keys endpoints (the SDK's preview when undefined). */
  apiVersion: string | undefined;
  keyName: string | undefined;
}

/** Stripe's SDK (about 35 MiB once loaded) is loaded when the first stripe step runs, not at start. */
const loadStripeSdk = () => import("stripe"); // the module cache keeps it after the first step

/** The preview version of the v2 API keys endpoints: the SDK's API date with `.preview`. */
export async function defaultStripePreviewVersion(): Promise<string> {
  return `${(await loadStripeSdk()).default.API_VERSION.split(".")[0]}.preview`;
}

const livePrefixes = ["sk_live_", "rk_live_"];
const testPrefixes = ["sk_test_", "rk_test_"];

/**
 * The `stripe` provider. Stripe's public API cannot create or roll an account's own keys (the
 * Dashboard does that), so there are two modes:
 * - `app_managed`: a Stripe App creates the account's next secret key through the v2 API keys
 *   endpoints (a preview: Stripe-Version `….preview`, Stripe-Context `acct_…`), receiving it
 *   encrypted to a key pair made for that one call, and expires the old key after the grace period.
 * - `supplied`: the operator rolls the key in the Dashboard and hands ScaiVault the new value
 *   (see `suppliedStripeCredential`); ScaiVault tests it and stores it. Nothing is revoked here.
 * In both modes `test` makes a call with the new key and checks its prefix and livemode.
 */
export function createStripeProvider(deps: StripeProviderDeps): RotationProvider {
  const agents = createGuardedAgents(deps.allow);
  const parseConfig = (config: Record<string, unknown>) => parseStripeConfig(config, deps.allow);
  const clientFor = async (config: StripeConfig, apiKey: string) =>
    new (await loadStripeSdk()).default(apiKey, {
      host: config.host,
      port: config.port,
      protocol: config.protocol,
      maxNetworkRetries: deps.maxNetworkRetries ?? 2,
      timeout: deps.timeoutMs ?? 30_000,
      telemetry: false,
      // Every address the API host resolves to passes the SSRF guard, at each connection.
      httpAgent: config.protocol === "http" ? agents.http : agents.https,
    });

  /** The v2 API keys endpoints, as the App: preview version and the account's context on every call. */
  const v2 = async (call: ProviderCall, config: StripeConfig) => {
    const appKey = parseAppKey(call.credentials);
    const stripe = await clientFor(config, appKey);
    const apiVersion = config.apiVersion ?? (await defaultStripePreviewVersion());
    const options = (idempotencyKey?: string) => ({ apiVersion, stripeContext: config.account, ...(idempotencyKey ? { idempotencyKey } : {}) });
    return {
      get: (path: string): Promise<ApiKeyObject> => stripe.rawRequest("GET", path, undefined, options()).catch((err: unknown) => Promise.reject(stripeFailure(`GET ${path}`, err))),
      post: (path: string, body: Record<string, unknown>, idempotencyKey: string): Promise<ApiKeyObject> =>
        stripe.rawRequest("POST", path, body, options(idempotencyKey)).catch((err: unknown) => Promise.reject(stripeFailure(`POST ${path}`, err))),
    };
  };

  /** Expires an API key unless it already is; a repeated step finds it expired and is done. */
  const expireKey = async (call: ProviderCall, config: StripeConfig, id: string): Promise<string> => {
    const api = await v2(call, config);
    const path = `/v2/iam/api_keys/${encodeURIComponent(id)}`;
    const existing = await api.get(path);
    if (existing.status === "expired") return `${id} already expired`;
    await api.post(`${path}/expire`, {}, `scaivault-expire-${id}`);
    return `POST /v2/iam/api_keys/${id}/expire 200`;
  };

  /** Supplied mode stores no credentials: only whether Stripe's API answers, asked without a key. */
  const unauthenticated = createGuardedHttp({ allow: deps.allow, timeoutMs: deps.timeoutMs ?? 30_000 });
  const apiBaseOf = (config: StripeConfig) => (config.host ? `${config.protocol}://${config.host.includes(":") ? `[${config.host}]` : config.host}:${config.port}` : "https://api.stripe.com");

  const keyNameOf = (call: ProviderCall, config: StripeConfig) => config.keyName ?? `scaivault ${call.tenantId} ${call.path}`.slice(0, 100);

  return {
    name: "stripe",

    validate(config, credentials) {
      const parsed = parseConfig(config);
      if (parsed.mode === "app_managed") parseAppKey(credentials);
      else if (credentials !== undefined) {
        throw new ScaiVaultError("invalid_request", "credentials are not used in supplied mode: the new key comes with the rotate call");
      }
    },

    async create(call) {
      const config = parseConfig(call.config);
      if (config.mode === "supplied") {
        throw new ScaiVaultError("invalid_request", "stripe provider in supplied mode needs new_value");
      }
      const api = await v2(call, config);
      const name = keyNameOf(call, config);
      const currentId = call.current?.api_key_id;
      const steps: string[] = [];

      // A run that crashed after its create left an active key nobody stores: expire it first, so a
      // repeated create never leaves two new keys behind. Only keys this binding named are touched.
      const listed = (await api.get("/v2/iam/api_keys")) as unknown as { data?: ApiKeyObject[] };
      const orphans = (listed.data ?? []).filter((k) => k.name === name && k.status !== "expired" && k.id !== currentId);
      for (const orphan of orphans) {
        await api.post(`/v2/iam/api_keys/${encodeURIComponent(orphan.id)}/expire`, {}, `scaivault-expire-${orphan.id}`);
        steps.push(`expired orphan ${orphan.id}`);
      }

      // Stripe returns the new secret only encrypted to a public key we send: a pair for this call alone.
      const pair = generateKeyPairSync("rsa", { modulusLength: 2048 });
      const created = await api.post(
        "/v2/iam/api_keys",
        {
          type: "secret",
          name,
          note: `Rotated by ScaiVault (${call.path})`,
          public_key: { pem_key: { algorithm: "RSA", data: pair.publicKey.export({ type: "spki", format: "pem" }).toString() } },
        },
        `scaivault-create-${randomUUID()}`,
      );
      const apiKey = secretOf(created, pair.privateKey);
      checkPrefix(apiKey, config.livemode, "the created key");
      steps.push(`POST /v2/iam/api_keys 200 (${created.id})`);
      return { data: { api_key: apiKey, api_key_id: created.id }, summary: steps.join(", ") };
    },

    async test(call, issued) {
      return testKey(clientFor, parseConfig(call.config), parseIssuedKey(issued));
    },

    async preflight(call) {
      const config = parseConfig(call.config);
      const base = apiBaseOf(config);
      if (config.mode === "supplied") {
        let status: number;
        try {
          ({ status } = await unauthenticated({ method: "GET", url: `${base}/v1/balance`, signal: call.signal }));
        } catch (err) {
          if (call.signal.aborted) throw err;
          return [failed("reachable", `${base} did not answer: ${err instanceof ScaiVaultError ? err.message : "request failed"}`)];
        }
        if (status >= 500) return [failed("reachable", `${base} answered ${status}`)];
        return [passed("reachable", `${base} answered (${status} without a key)`), passed("credentials", "none stored in supplied mode: the new key comes with the rotate call and is tested then")];
      }
      const stripe = await clientFor(config, parseAppKey(call.credentials));
      const apiVersion = config.apiVersion ?? (await defaultStripePreviewVersion());
      try {
        const listed = (await stripe.rawRequest("GET", "/v2/iam/api_keys", undefined, { apiVersion, stripeContext: config.account })) as unknown as { data?: unknown[] };
        return [
          passed("reachable", `${base} answered GET /v2/iam/api_keys`),
          passed("credentials", `the App's key (credentials.api_key) was accepted and may list the API keys of ${config.account} (${listed.data?.length ?? 0} keys)`),
        ];
      } catch (err) {
        if (call.signal.aborted) throw err;
        return stripePreflightFailure(err, base, config);
      }
    },

    async revoke(call, old): Promise<StepOutcome> {
      const config = parseConfig(call.config);
      if (config.mode === "supplied") {
        return { summary: "none in supplied mode: Stripe expires the rolled key at the time chosen when rolling it in the Dashboard" };
      }
      const oldId = optionalString(old, "api_key_id", "the old version");
      if (!oldId) return { summary: "none: the old key was not created through the API (no api_key_id); expire it in the Dashboard" };
      if (oldId === call.current?.api_key_id) throw new ScaiVaultError("invalid_request", "stripe refuses to revoke the current version's key");
      return { summary: await expireKey(call, config, oldId) };
    },

    supplied: {
      required: (config) => parseConfig(config).mode === "supplied",
      issue: (config, newValue) => suppliedStripeCredential(config, newValue),
    },

    async discard(call, issued): Promise<StepOutcome> {
      const config = parseConfig(call.config);
      if (config.mode === "supplied") return { summary: "none in supplied mode: the operator's key is left as it is" };
      const id = optionalString(issued, "api_key_id", "the issued key");
      if (!id) return { summary: "none: the issued key has no api_key_id" };
      if (id === call.current?.api_key_id) throw new ScaiVaultError("invalid_request", "stripe refuses to discard the current version's key");
      return { summary: await expireKey(call, config, id) };
    },
  };
}

/**
 * Supplied mode: turns the operator's new key (`new_value` of the rotate call, or the value written
 * after `rotation.due`) into the issued credential of the run's create step, after checking its
 * prefix against `config.livemode`. The run then goes on with the provider's `test` as usual.
 */
export function suppliedStripeCredential(config: Record<string, unknown>, newValue: unknown): IssuedCredential {
  // No request is made here: only mode and livemode matter, so the host is not checked.
  const parsed = parseStripeConfig(config, undefined);
  if (parsed.mode !== "supplied") throw new ScaiVaultError("invalid_request", "stripe takes a new value only in supplied mode");
  const apiKey = typeof newValue === "string" ? newValue : newValue && typeof newValue === "object" ? (newValue as Record<string, unknown>).api_key : undefined;
  if (typeof apiKey !== "string" || apiKey.length === 0) {
    throw new ScaiVaultError("invalid_request", "new_value must be the new Stripe key, as a string or {\"api_key\": \"...\"}");
  }
  checkPrefix(apiKey, parsed.livemode, "new_value");
  return { data: { api_key: apiKey }, summary: `supplied by the operator (${apiKey.slice(0, 8)}…)` };
}

/** Supplied mode's test step on its own: a call to Stripe's API with the key, plus prefix and livemode checks. */
export function testSuppliedStripeKey(deps: StripeProviderDeps, call: ProviderCall, apiKey: string): Promise<StepOutcome> {
  return createStripeProvider(deps).test(call, { api_key: apiKey });
}

interface ApiKeyObject {
  id: string;
  name?: string;
  status?: string;
  secret_key?: {
    token?: string;
    encrypted_secret?: { ciphertext?: string; format?: string; recipient_key_id?: string };
  };
}

/** The plaintext secret of a created key: decrypted from `encrypted_secret` (RSA-OAEP, SHA-256, base64). */
function secretOf(created: ApiKeyObject, privateKey: ReturnType<typeof generateKeyPairSync>["privateKey"]): string {
  const secret = created.secret_key;
  if (typeof secret?.token === "string" && secret.token.length > 0) return secret.token;
  const ciphertext = secret?.encrypted_secret?.ciphertext;
  if (typeof ciphertext !== "string") throw new ScaiVaultError("unavailable", "Stripe created the key but answered without its secret");
  try {
    return privateDecrypt({ key: privateKey, padding: constants.RSA_PKCS1_OAEP_PADDING, oaepHash: "sha256" }, Buffer.from(ciphertext, "base64")).toString("utf8");
  } catch (err) {
    const format = secret?.encrypted_secret?.format ?? "unknown";
    throw new ScaiVaultError("unavailable", `could not decrypt the new key's secret (format ${format}); expire key ${created.id} in the Dashboard`, { cause: err });
  }
}

async function testKey(clientFor: (config: StripeConfig, apiKey: string) => Promise<Stripe>, config: StripeConfig, apiKey: string): Promise<StepOutcome> {
  checkPrefix(apiKey, config.livemode, "the new key");
  const stripe = await clientFor(config, apiKey);
  try {
    const balance = await stripe.balance.retrieve();
    if (balance.livemode !== config.livemode) {
      throw new ScaiVaultError("invalid_request", `the new key answers in ${balance.livemode ? "live" : "test"} mode, config.livemode is ${config.livemode}`);
    }
    return { summary: "GET /v1/balance with the new key 200" };
  } catch (err) {
    if (err instanceof ScaiVaultError) throw err;
    // A restricted key without balance access is still a key Stripe accepted.
    if ((err as { statusCode?: number }).statusCode === 403) return { summary: "GET /v1/balance with the new key 403, key accepted (restricted)" };
    throw stripeFailure("GET /v1/balance with the new key", err);
  }
}

function checkPrefix(apiKey: string, livemode: boolean, what: string): void {
  const allowed = livemode ? livePrefixes : testPrefixes;
  if (!allowed.some((p) => apiKey.startsWith(p))) {
    throw new ScaiVaultError("invalid_request", `${what} must start with ${allowed.join(" or ")} (config.livemode is ${livemode})`);
  }
}

function parseStripeConfig(config: Record<string, unknown>, allow: AllowList | undefined): StripeConfig {
  requireObject(config, "config");
  const mode = config.mode;
  if (mode !== "app_managed" && mode !== "supplied") throw new ScaiVaultError("invalid_request", "config.mode must be app_managed or supplied");
  if (typeof config.livemode !== "boolean") throw new ScaiVaultError("invalid_request", "config.livemode must be true or false");
  const apiBase = optionalString(config, "api_base", "config");
  let host: string | undefined;
  let port: number | undefined;
  let protocol: "http" | "https" | undefined;
  if (apiBase !== undefined) {
    let url: URL;
    try {
      url = new URL(apiBase);
    } catch {
      throw new ScaiVaultError("invalid_request", "config.api_base must be an http(s) URL such as https://api.stripe.com");
    }
    if ((url.protocol !== "https:" && url.protocol !== "http:") || url.pathname !== "/") {
      throw new ScaiVaultError("invalid_request", "config.api_base must be an http(s) URL such as https://api.stripe.com");
    }
    protocol = url.protocol === "http:" ? "http" : "https";
    if (allow) refuseGuardedHost(url.hostname, allow, "config.api_base");
    host = url.hostname.replace(/^\[(.*)\]$/, "$1");
    port = url.port ? Number(url.port) : protocol === "http" ? 80 : 443;
  }
  const account = optionalString(config, "account", "config");
  if (mode === "app_managed" && (!account || !/^acct_\w+$/.test(account))) {
    throw new ScaiVaultError("invalid_request", "config.account (acct_…, sent as Stripe-Context) is required in app_managed mode");
  }
  const apiVersion = optionalString(config, "api_version", "config");
  const keyName = optionalString(config, "key_name", "config");
  return { mode, livemode: config.livemode, host, port, protocol, account, apiVersion, keyName };
}

function parseAppKey(credentials: Record<string, unknown> | undefined): string {
  if (credentials === undefined) throw new ScaiVaultError("invalid_request", "credentials.api_key (the Stripe App's secret key) is required in app_managed mode");
  requireObject(credentials, "credentials");
  return requireString(credentials, "api_key", "credentials");
}

function parseIssuedKey(data: CredentialData): string {
  requireObject(data, "the issued key");
  return requireString(data, "api_key", "the issued key");
}

/** Why the App's GET /v2/iam/api_keys failed, as the checks it decides. */
function stripePreflightFailure(err: unknown, base: string, config: StripeConfig): PreflightCheck[] {
  const e = err as { statusCode?: number; type?: string; code?: string };
  const detail = [e.statusCode, e.type, e.code].filter((x) => x !== undefined).join(" ");
  if (e.statusCode === undefined) return [failed("reachable", `${base} did not answer GET /v2/iam/api_keys${e.type ? `: ${e.type}` : ""}`)];
  if (e.statusCode >= 500 || e.statusCode === 429) return [failed("reachable", `Stripe answered GET /v2/iam/api_keys with ${detail}`)];
  const reachable = passed("reachable", `${base} answered GET /v2/iam/api_keys (${e.statusCode})`);
  if (e.statusCode === 401) return [reachable, failed("credentials", `Stripe refused the App's key (credentials.api_key): ${detail}`)];
  if (e.statusCode === 403) return [reachable, failed("credentials", `the App's key was accepted but may not manage the API keys of ${config.account}: ${detail}`)];
  return [reachable, failed("config", `Stripe answered GET /v2/iam/api_keys with ${detail}; check config.account and config.api_version`)];
}

/** A Stripe failure as a safe step error: the call, HTTP status and Stripe's error type, never a key. */
function stripeFailure(action: string, err: unknown): ScaiVaultError {
  const e = err as { statusCode?: number; type?: string; code?: string };
  const detail = [e.statusCode, e.type, e.code].filter((x) => x !== undefined).join(" ");
  return new ScaiVaultError("unavailable", `Stripe ${action} failed${detail ? `: ${detail}` : ""}`, { cause: err });
}

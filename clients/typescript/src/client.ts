import type { DescMethod, DescService } from "@bufbuild/protobuf";
import { createClient, type CallOptions, type Client, type Transport } from "@connectrpc/connect";
import type { ReadCache, SecretCache, SecretCacheOptions } from "./cache.js";
import { ScaiVaultError } from "./errors.js";
import { AuditService } from "./gen/scaivault/v1/audit_pb.js";
import { RotationService } from "./gen/scaivault/v1/rotation_pb.js";
import { SecretPolicyService } from "./gen/scaivault/v1/secret_policies_pb.js";
import { SecretsService } from "./gen/scaivault/v1/secrets_pb.js";
import { TenantService } from "./gen/scaivault/v1/tenants_pb.js";
import { WebhookService } from "./gen/scaivault/v1/webhooks_pb.js";
import { WatchService } from "./gen/scaivault/v1/watch_pb.js";
import { NotificationChannelService } from "./gen/scaivault/v1/notifications_pb.js";
import { createRotationHelpers, type RotationHelpers } from "./rotation.js";
import { createSecretHelpers, type SecretsClient } from "./secrets.js";
import { watchChanges } from "./watch.js";

/** Where the bearer token comes from: a fixed one, or a function asked before every call (so it can refresh). */
export type TokenSource =
  | { token?: string; getToken?: never }
  | { getToken: () => string | Promise<string>; token?: never };

/** What every client takes, whichever runtime and transport it uses. */
export type ClientOptions = TokenSource & {
  /** Act on another tenant of your partner (partner admins only): sent as `x-scaivault-tenant`. */
  tenant?: string;
  /** Deadline of each call attempt, in milliseconds (default 30 000; 0 for none). */
  timeoutMs?: number;
  /**
   * How often a read (`Get*`, `List*`) is tried again after `unavailable`, `rate_limited` or
   * `deadline_exceeded`, with jittered exponential backoff from 100 ms up to 2 s (default 2).
   * Writes are never retried: the first attempt may have been applied.
   */
  retries?: number;
  /** Caches `secrets.get`; writes through this client invalidate what they touch. Off by default. */
  cache?: SecretCacheOptions | boolean;
};

/** Typed clients for every ScaiVault service. Every method throws {@link ScaiVaultError}. */
export interface ScaiVaultClient {
  secrets: SecretsClient;
  /** Rotation policies (generated methods) and provider rotation helpers: `configure`, `get`, `list`, `pause`, `resume`, `disable`, `runs`, `rollback`. */
  rotation: Client<typeof RotationService> & RotationHelpers;
  secretPolicies: Client<typeof SecretPolicyService>;
  webhooks: Client<typeof WebhookService>;
  notificationChannels: Client<typeof NotificationChannelService>;
  audit: Client<typeof AuditService>;
  /** The tenant registry (operators with `platform:admin`; partner admins may list their own partner's tenants). */
  tenants: Client<typeof TenantService>;
  /** The read cache of `secrets.get`, when enabled. */
  cache: SecretCache | undefined;
  /** The transport every call goes through. */
  transport: Transport;
  /** Closes the connections the client opened (HTTP/2 sessions, keep-alive sockets). */
  close(): void;
}

const defaultTimeoutMs = 30_000;
const defaultRetries = 2;
/** Secrets methods that change what `GetSecret` returns for the request's `path`. */
const pathWrites = new Set(["PutSecret", "UpdateSecretMetadata", "DeleteSecret", "RestoreSecret", "RotateSecret"]);
/** Methods that may change the value of secrets they do not name in the request. */
const bulkWrites = new Set(["RotatePolicy", "RollbackSecretRotation"]);

/**
 * Creates the client over a transport you built (any Connect transport: connect-node,
 * connect-web, or `createRouterTransport` in tests). `createScaiVaultClient` from the package's
 * Node or web entry builds the transport for you.
 */
export function createScaiVaultClientWithTransport(transport: Transport, options: ClientOptions & { close?: () => void } = {}): ScaiVaultClient {
  if (options.token !== undefined && options.getToken !== undefined) {
    throw new ScaiVaultError("invalid_request", "ScaiVault client: give token or getToken, not both");
  }
  const timeoutMs = options.timeoutMs ?? defaultTimeoutMs;
  const retries = options.retries ?? defaultRetries;
  if (!Number.isInteger(retries) || retries < 0) throw new ScaiVaultError("invalid_request", "ScaiVault client: retries must be a non-negative integer");
  let cache: SecretCache | undefined;

  /** The headers every call sends: the bearer token (asked for anew each time) and the target tenant. */
  async function callHeaders(given?: HeadersInit): Promise<Headers> {
    const headers = new Headers(given);
    const token = options.token ?? (await options.getToken?.());
    if (token && !headers.has("authorization")) headers.set("authorization", `Bearer ${token}`);
    if (options.tenant && !headers.has("x-scaivault-tenant")) headers.set("x-scaivault-tenant", options.tenant);
    return headers;
  }

  async function invoke<R>(method: DescMethod, input: { path?: unknown } | undefined, callOptions: CallOptions, send: (o: CallOptions) => Promise<R>): Promise<R> {
    const readOnly = /^(Get|List)/.test(method.name);
    const invalidate = () => {
      if (!cache) return;
      if (bulkWrites.has(method.name)) cache.clear();
      else if (pathWrites.has(method.name) && method.parent.typeName === SecretsService.typeName && typeof input?.path === "string") cache.invalidate(input.path);
    };
    for (let attempt = 0; ; attempt++) {
      const headers = await callHeaders(callOptions.headers);
      invalidate();
      try {
        return await send({ ...callOptions, headers, timeoutMs: callOptions.timeoutMs ?? (timeoutMs || undefined) });
      } catch (err) {
        const error = ScaiVaultError.from(err);
        const retryable = ["unavailable", "rate_limited", "deadline_exceeded"].includes(error.code);
        if (!readOnly || !retryable || attempt >= retries || callOptions.signal?.aborted) throw error;
        await sleep(Math.min(2000, 100 * 2 ** attempt) * (0.5 + Math.random() / 2), callOptions.signal);
      } finally {
        invalidate(); // again: a read that raced with the write must not keep the old value
      }
    }
  }

  function wrap<S extends DescService>(service: S): Client<S> {
    const raw = createClient(service, transport) as unknown as Record<string, (input: unknown, options?: CallOptions) => Promise<unknown>>;
    const wrapped: Record<string, unknown> = {};
    for (const method of service.methods) {
      const call = raw[method.localName]!;
      wrapped[method.localName] =
        method.methodKind === "unary"
          ? (input: { path?: unknown } | undefined, callOptions: CallOptions = {}) => invoke(method, input, callOptions, (o) => call(input, o))
          : call;
    }
    return wrapped as Client<S>;
  }

  const secretsClient = wrap(SecretsService);
  const watchClient = createClient(WatchService, transport);
  const watch: SecretsClient["watch"] = (watchOptions) => watchChanges(watchClient, () => callHeaders(), watchOptions);
  const cacheOptions = options.cache === true ? {} : options.cache || undefined;
  const { helpers, cache: readCache } = createSecretHelpers(secretsClient, cacheOptions);
  cache = readCache;
  // With `cache: { watch: true }` a watch stream drops a cached secret the moment it changes.
  const stopCacheWatch = readCache && cacheOptions?.watch ? followChanges(readCache, watch, cacheOptions.watch) : undefined;
  return {
    secrets: Object.assign(secretsClient, helpers, { watch }),
    rotation: withRotationHelpers(wrap(RotationService)),
    secretPolicies: wrap(SecretPolicyService),
    webhooks: wrap(WebhookService),
    notificationChannels: wrap(NotificationChannelService),
    audit: wrap(AuditService),
    tenants: wrap(TenantService),
    cache: readCache,
    transport,
    close: () => {
      stopCacheWatch?.();
      (options.close ?? (() => undefined))();
    },
  };
}

/**
 * Keeps the cache honest from a watch stream: every change drops the path's cached versions.
 * Each time the stream becomes live without a cursor to resume from (the first time), everything
 * cached before is dropped, since a change before that moment was not seen. If the watch fails for
 * good the cache falls back to its TTL alone (the error goes to `onRefreshError`).
 */
function followChanges(cache: ReadCache<unknown>, watch: SecretsClient["watch"], setting: true | { prefix?: string }): () => void {
  const abort = new AbortController();
  let resumable = false;
  void (async () => {
    try {
      const changes = watch({
        prefix: setting === true ? "" : setting.prefix,
        signal: abort.signal,
        onLive: () => {
          if (!resumable) cache.clear();
          cache.markWatching();
        },
      });
      for await (const change of changes) {
        resumable = true;
        cache.invalidate(change.path);
      }
    } catch (err) {
      cache.reportWatchFailure(ScaiVaultError.from(err));
    }
  })();
  return () => abort.abort();
}

function withRotationHelpers(client: Client<typeof RotationService>): Client<typeof RotationService> & RotationHelpers {
  return Object.assign(client, createRotationHelpers(client));
}

function sleep(ms: number, signal: AbortSignal | undefined): Promise<void> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(done, ms);
    signal?.addEventListener("abort", done, { once: true });
    function done() {
      clearTimeout(timer);
      signal?.removeEventListener("abort", done);
      if (signal?.aborted) reject(ScaiVaultError.from(signal.reason));
      else resolve();
    }
  });
}

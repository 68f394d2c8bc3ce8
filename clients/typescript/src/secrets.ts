import type { JsonObject } from "@bufbuild/protobuf";
import { timestampDate, timestampFromDate, type Timestamp } from "@bufbuild/protobuf/wkt";
import type { CallOptions, Client } from "@connectrpc/connect";
import { createReadCache, type ReadCache, type SecretCacheOptions } from "./cache.js";
import type { SecretMetadata, SecretsService } from "./gen/scaivault/v1/secrets_pb.js";
import type { SecretChange, WatchOptions } from "./watch.js";

/** The secret types the service knows; other strings pass through for newer servers. */
export type SecretType = "kv" | "json" | "certificate" | "ssh_key" | "api_key" | (string & {});

/** One version of a secret with its value, as `secrets.get` returns it. Cached values are frozen. */
export interface SecretValue<T = JsonObject> {
  path: string;
  version: number;
  secretType: SecretType;
  data: T;
  metadata: { description?: string; tags: string[]; owner?: string };
  createdAt?: Date;
  expiresAt?: Date;
}

/** Per-call settings of the helpers. */
export interface HelperCallOptions {
  signal?: AbortSignal;
  /** Deadline of this call (each attempt), overriding the client's `timeoutMs`. */
  timeoutMs?: number;
}

/** Options of `secrets.get`. */
export interface GetSecretOptions extends HelperCallOptions {
  /** A specific version; the current one when absent. */
  version?: number;
  /** Skips the client's cache for this read (and stores the answer in it). */
  fresh?: boolean;
}

/** Options of `secrets.put`: the type, metadata and settings of the secret. */
export interface PutSecretOptions extends HelperCallOptions {
  /** `kv` by default. */
  secretType?: SecretType;
  description?: string;
  tags?: string[];
  owner?: string;
  /** Versions kept, 1 to 100 (default 10). */
  maxVersions?: number;
  /** Relative expiry as a duration (`90d`, `24h`); not with `expiresAt`. */
  expiresIn?: string;
  expiresAt?: Date;
  rotationPolicyId?: string;
  secretPolicyId?: string;
  /** Check-and-set: the version you expect to be current; 0 means create only. A mismatch is `version_conflict`. */
  cas?: number;
}

/** What `secrets.put` returns. */
export interface PutSecretResult {
  path: string;
  version: number;
  /** True when this write created the secret (version 1). */
  created: boolean;
  previousVersion?: number;
  createdAt?: Date;
  updatedAt?: Date;
  expiresAt?: Date;
}

/** Filters and page size of `secrets.list`. */
export interface ListSecretsOptions extends HelperCallOptions {
  prefix?: string;
  /** Tags that must all be present. */
  tags?: string[];
  secretType?: SecretType;
  expiresBefore?: Date;
  updatedAfter?: Date;
  includeExpired?: boolean;
  /** Adds each secret's metadata to the rows. */
  includeMetadata?: boolean;
  /** Rows per request (the service's default is 50, its maximum 200); the iterator fetches every page. */
  pageSize?: number;
}

/** One row of a listing. */
export interface SecretSummary {
  path: string;
  secretType: SecretType;
  version: number;
  updatedAt?: Date;
  expiresAt?: Date;
  tags: string[];
  /** Only with `includeMetadata`. */
  metadata?: SecretMetadata;
}

/** The hand-written conveniences on top of the generated SecretsService client. */
export interface SecretHelpers {
  /** Reads a secret's current version (or `version`), with `data` typed as you say; served from the cache when the client has one. */
  get<T = JsonObject>(path: string, options?: GetSecretOptions): Promise<SecretValue<T>>;
  /** Writes a new version (the first one creates the secret). */
  put(path: string, data: JsonObject | object, options?: PutSecretOptions): Promise<PutSecretResult>;
  /** Every secret matching the filters, page after page, as one async iterator. */
  list(options?: ListSecretsOptions): AsyncIterable<SecretSummary>;
  /**
   * The changes of secrets under `prefix` as they happen (never values), as an async iterator
   * that reconnects and resumes after the last change by itself; end it with `signal` or `break`.
   */
  watch(options?: WatchOptions): AsyncIterable<SecretChange>;
}

/** The SecretsService client: every generated method plus `get`, `put` and `list`. */
export type SecretsClient = Client<typeof SecretsService> & SecretHelpers;

const dateOf = (ts: Timestamp | undefined) => (ts ? timestampDate(ts) : undefined);
const timestampOf = (date: Date | undefined) => (date ? timestampFromDate(date) : undefined);
const callOptionsOf = (o: HelperCallOptions): CallOptions => ({ signal: o.signal, timeoutMs: o.timeoutMs });

/** Creates the helpers of a SecretsService client, and the read cache that serves `get` when cache options are given. */
export function createSecretHelpers(
  client: Client<typeof SecretsService>,
  cacheOptions?: SecretCacheOptions,
): { helpers: Omit<SecretHelpers, "watch">; cache?: ReadCache<SecretValue<unknown>> } {
  async function fetchSecret(path: string, version: number | undefined, options: HelperCallOptions = {}): Promise<SecretValue<unknown>> {
    const secret = await client.getSecret({ path, version }, callOptionsOf(options));
    return {
      path: secret.path,
      version: secret.version,
      secretType: secret.secretType,
      data: secret.data ?? {},
      metadata: {
        description: secret.metadata?.description,
        tags: secret.metadata?.tags ?? [],
        owner: secret.metadata?.owner,
      },
      createdAt: dateOf(secret.createdAt),
      expiresAt: dateOf(secret.expiresAt),
    };
  }

  const cache = cacheOptions ? createReadCache((path, version) => fetchSecret(path, version), cacheOptions) : undefined;
  const helpers: Omit<SecretHelpers, "watch"> = {
    async get<T>(path: string, options: GetSecretOptions = {}) {
      const value = cache ? await cache.get(path, options.version, options.fresh) : await fetchSecret(path, options.version, options);
      return value as SecretValue<T>;
    },

    async put(path, data, options = {}) {
      const { description, tags, owner } = options;
      const res = await client.putSecret(
        {
          path,
          data: data as JsonObject,
          secretType: options.secretType,
          metadata: description !== undefined || tags !== undefined || owner !== undefined ? { description, tags, owner } : undefined,
          options: {
            maxVersions: options.maxVersions,
            expiresIn: options.expiresIn,
            expiresAt: timestampOf(options.expiresAt),
            rotationPolicyId: options.rotationPolicyId,
            secretPolicyId: options.secretPolicyId,
            cas: options.cas,
          },
        },
        callOptionsOf(options),
      );
      return {
        path: res.path,
        version: res.version,
        created: res.created,
        previousVersion: res.previousVersion,
        createdAt: dateOf(res.createdAt),
        updatedAt: dateOf(res.updatedAt),
        expiresAt: dateOf(res.expiresAt),
      };
    },

    async *list(options = {}) {
      let cursor: string | undefined;
      do {
        const page = await client.listSecrets(
          {
            prefix: options.prefix,
            tag: options.tags ?? [],
            secretType: options.secretType,
            expiresBefore: timestampOf(options.expiresBefore),
            updatedAfter: timestampOf(options.updatedAfter),
            includeExpired: options.includeExpired ?? false,
            includeMetadata: options.includeMetadata ?? false,
            limit: options.pageSize,
            cursor,
          },
          callOptionsOf(options),
        );
        for (const row of page.secrets) {
          yield {
            path: row.path,
            secretType: row.secretType,
            version: row.version,
            updatedAt: dateOf(row.updatedAt),
            expiresAt: dateOf(row.expiresAt),
            tags: row.tags,
            metadata: row.metadata,
          };
        }
        cursor = page.hasMore && page.cursor ? page.cursor : undefined;
      } while (cursor);
    },
  };
  return { helpers, cache };
}

import type { JsonObject, JsonValue } from "@bufbuild/protobuf";
import { ScaiVaultError } from "../errors.js";
import { customMetadataOf } from "../secrets/secrets-handler.js";
import type { SecretRow } from "../secrets/secrets-store.js";
import type { SecretsService } from "../secrets/secrets-service.js";
import { formatGoDuration, parseDeleteVersionAfter, validateCustomMetadata, type VersionChange, type VersionLifecycle } from "../secrets/version-lifecycle.js";
import type { VaultKvService, VaultVersionView } from "./vault-kv-service.js";
import type { VaultOperation, VaultRequest } from "./vault-operation.js";
import { vaultErrors } from "../transport/error-edge.js";
import { vaultData, vaultNoContent } from "./vault-response.js";

export interface VaultKvDeps {
  secrets: SecretsService;
  kv: VaultKvService;
  versions: VersionLifecycle;
}

const read = { scope: "secrets:read" } as const;
const write = { scope: "secrets:write" } as const;
const remove = { scope: "secrets:delete" } as const;
/** Destroying a version or a whole secret cannot be undone: admin, as the native permanent delete. */
const admin = { scope: "admin" } as const;

/** `?version=`: absent or 0 is the latest, as in Vault; anything else must be a version number. */
function versionParam(url: URL): number | undefined {
  const raw = url.searchParams.get("version");
  if (raw === null || raw === "" || raw === "0") return undefined;
  if (!/^\d{1,9}$/.test(raw)) throw new ScaiVaultError("invalid_request", "version must be a non-negative integer");
  return Number(raw);
}

/** A version's metadata as Vault's data and write answers carry it. */
function versionMetadata(secret: Pick<SecretRow, "custom_metadata">, version: number, createdAt: Date): JsonObject {
  const custom = customMetadataOf(secret.custom_metadata);
  return { created_time: createdAt.toISOString(), custom_metadata: Object.keys(custom).length > 0 ? custom : null, deletion_time: "", destroyed: false, version };
}

/** Vault's `data` and `options.cas` of a write body. */
function writeInput(body: JsonObject): { data: JsonObject; cas?: number } {
  const data = body.data;
  if (data === undefined || data === null || typeof data !== "object" || Array.isArray(data)) throw new ScaiVaultError("invalid_request", "no data provided");
  const options = body.options;
  if (options !== undefined && options !== null && (typeof options !== "object" || Array.isArray(options))) throw new ScaiVaultError("invalid_request", "options must be an object");
  const cas = (options as JsonObject | null | undefined)?.cas;
  if (cas === undefined || cas === null) return { data: data as JsonObject };
  const n = typeof cas === "string" && /^\d{1,9}$/.test(cas) ? Number(cas) : cas;
  if (typeof n !== "number" || !Number.isInteger(n) || n < 0) throw new ScaiVaultError("invalid_request", "options.cas must be a non-negative integer");
  return { data: data as JsonObject, cas: n };
}

/** RFC 7386 JSON merge patch: `null` removes a key, objects merge, everything else replaces. */
export function mergePatch(target: JsonValue, patch: JsonValue): JsonValue {
  if (patch === null || typeof patch !== "object" || Array.isArray(patch)) return patch;
  const result: JsonObject = target !== null && typeof target === "object" && !Array.isArray(target) ? { ...target } : {};
  for (const [key, value] of Object.entries(patch)) {
    if (value === null) delete result[key];
    else result[key] = mergePatch(result[key] ?? null, value);
  }
  return result;
}

async function writeData(deps: VaultKvDeps, r: VaultRequest, input: { data: JsonObject; cas?: number }) {
  const written = await deps.secrets.put(r.call, "tenant", r.path, { data: input.data, options: { cas: input.cas } });
  return vaultData(r.requestId, versionMetadata({ custom_metadata: written.customMetadata }, written.version, written.updatedAt));
}

function versionsMap(versions: VaultVersionView[]): JsonObject {
  const map: JsonObject = {};
  for (const v of versions) {
    map[String(v.version)] = { created_time: v.createdAt.toISOString(), deletion_time: v.deletedAt?.toISOString() ?? "", destroyed: v.destroyed };
  }
  return map;
}

function metadataView(secret: SecretRow, versions: VaultVersionView[]): JsonObject {
  const custom = customMetadataOf(secret.custom_metadata);
  return {
    cas_required: secret.cas_required,
    created_time: secret.created_at.toISOString(),
    current_version: secret.current_version,
    custom_metadata: Object.keys(custom).length > 0 ? custom : null,
    delete_version_after: formatGoDuration(secret.delete_version_after_seconds ?? 0),
    max_versions: secret.max_versions,
    oldest_version: versions[0]?.version ?? 0,
    updated_time: secret.updated_at.toISOString(),
    versions: versionsMap(versions),
  };
}

/** `{versions: [1, 2]}` of delete, undelete and destroy (numbers or numeric strings, as Vault takes them). */
function versionsInput(body: JsonObject): number[] {
  const versions = body.versions;
  if (!Array.isArray(versions) || versions.length === 0) throw new ScaiVaultError("invalid_request", "no version number provided");
  return versions.map((v) => {
    const n = typeof v === "string" && /^\d{1,9}$/.test(v) ? Number(v) : v;
    if (typeof n !== "number" || !Number.isInteger(n) || n < 1) throw new ScaiVaultError("invalid_request", "versions must be version numbers");
    return n;
  });
}

/** The settings of a metadata write; those absent stay as they are. */
function settingsInput(body: JsonObject) {
  const { max_versions: maxVersions, cas_required: casRequired, custom_metadata: custom, delete_version_after: dva } = body;
  if (maxVersions !== undefined && (typeof maxVersions !== "number" || !Number.isInteger(maxVersions) || maxVersions < 0)) throw new ScaiVaultError("invalid_request", "max_versions must be a non-negative integer");
  if (casRequired !== undefined && typeof casRequired !== "boolean") throw new ScaiVaultError("invalid_request", "cas_required must be a boolean");
  return {
    // Vault's 0 is "the default", ten versions here as there.
    maxVersions: maxVersions === undefined ? undefined : (maxVersions as number) || 10,
    casRequired: casRequired as boolean | undefined,
    customMetadata: custom === undefined || custom === null ? undefined : validateCustomMetadata(custom),
    deleteVersionAfterSeconds: dva === undefined || dva === null ? undefined : parseDeleteVersionAfter(dva),
  };
}

/** Vault's subkeys: the data's keys to `depth` levels (0: all), every leaf `null`. */
function subkeysOf(value: JsonValue, depth: number, level = 1): JsonValue {
  if (value === null || typeof value !== "object" || Array.isArray(value)) return null;
  const out: JsonObject = {};
  for (const [k, v] of Object.entries(value)) out[k] = depth !== 0 && level >= depth ? null : subkeysOf(v, depth, level + 1);
  return out;
}

function versionOp(deps: VaultKvDeps, change: VersionChange, need: typeof remove | typeof admin): VaultOperation {
  const run = async (r: VaultRequest) => {
    await deps.versions.changeVersions(r.call, r.path, change, versionsInput(await r.body()));
    return vaultNoContent();
  };
  return { action: `vault.kv.${change}`, need, run };
}

/** The KV v2 operations of one mount, by Vault's path part (`data`, `metadata`) and method (`LIST` included). */
export function kvOperations(deps: VaultKvDeps): Record<string, Record<string, VaultOperation>> {
  const writeOp: VaultOperation = { action: "vault.kv.write", need: write, run: async (r) => writeData(deps, r, writeInput(await r.body())) };
  const metadataWrite: VaultOperation = {
    action: "vault.kv.metadata.write",
    need: write,
    run: async (r) => {
      await deps.versions.updateSettings(r.call, r.path, settingsInput(await r.body()));
      return vaultNoContent();
    },
  };
  return {
    data: {
      GET: {
        action: "vault.kv.read",
        need: read,
        query: ["version"],
        run: async (r) => {
          const got = await deps.secrets.get(r.call, "tenant", r.path, versionParam(r.url));
          return vaultData(r.requestId, { data: got.data, metadata: versionMetadata(got.secret, got.version, got.createdAt) });
        },
      },
      POST: writeOp,
      PUT: writeOp,
      DELETE: {
        action: "vault.kv.delete",
        need: remove,
        run: async (r) => {
          await deps.versions.deleteCurrent(r.call, r.path);
          return vaultNoContent();
        },
      },
      PATCH: {
        action: "vault.kv.patch",
        need: write,
        run: async (r) => {
          if (!/^application\/merge-patch\+json\s*(?:;|$)/i.test(r.req.header.get("content-type") ?? "")) {
            return vaultErrors(415, ["PATCH requires the content type application/merge-patch+json"]);
          }
          const input = writeInput(await r.body());
          // A patch is a read, a merge and a check-and-set write of the version read (or the caller's own cas).
          const current = await deps.secrets.get(r.call, "tenant", r.path);
          const merged = mergePatch(current.data, input.data) as JsonObject;
          return writeData(deps, r, { data: merged, cas: input.cas ?? current.version });
        },
      },
    },
    metadata: {
      GET: {
        action: "vault.kv.metadata.read",
        need: read,
        query: ["list"],
        run: async (r) => {
          const { secret, versions } = await deps.kv.metadataOf(r.call, r.path);
          return vaultData(r.requestId, metadataView(secret, versions));
        },
      },
      LIST: {
        action: "vault.kv.list",
        need: read,
        query: ["list"],
        run: async (r) => vaultData(r.requestId, { keys: await deps.kv.listKeys(r.call, r.path) }),
      },
      POST: metadataWrite,
      PUT: metadataWrite,
      PATCH: metadataWrite,
      DELETE: {
        action: "vault.kv.metadata.delete",
        need: admin,
        run: async (r) => {
          await deps.secrets.remove(r.call, "tenant", r.path, { permanent: true });
          return vaultNoContent();
        },
      },
    },
    delete: { POST: versionOp(deps, "delete", remove), PUT: versionOp(deps, "delete", remove) },
    undelete: { POST: versionOp(deps, "undelete", remove), PUT: versionOp(deps, "undelete", remove) },
    destroy: { POST: versionOp(deps, "destroy", admin), PUT: versionOp(deps, "destroy", admin) },
    config: {
      // Settings are per secret here (metadata/{path}); the mount's are Vault's defaults.
      GET: { action: "vault.kv.config.read", need: read, run: async (r) => vaultData(r.requestId, { cas_required: false, delete_version_after: "0s", max_versions: 0 }) },
    },
    subkeys: {
      GET: {
        action: "vault.kv.subkeys",
        need: read,
        query: ["version", "depth"],
        run: async (r) => {
          const depthRaw = r.url.searchParams.get("depth") ?? "0";
          if (!/^\d{1,4}$/.test(depthRaw)) throw new ScaiVaultError("invalid_request", "depth must be a non-negative integer");
          const got = await deps.secrets.get(r.call, "tenant", r.path, versionParam(r.url));
          return vaultData(r.requestId, { subkeys: subkeysOf(got.data, Number(depthRaw)), metadata: versionMetadata(got.secret, got.version, got.createdAt) });
        },
      },
    },
  };
}

import type { JsonObject, JsonValue } from "@bufbuild/protobuf";
import { ScaiVaultError } from "../errors.js";
import type { SecretRow } from "../secrets/secrets-store.js";
import type { SecretsService } from "../secrets/secrets-service.js";
import type { VaultKvService, VaultVersionView } from "./vault-kv-service.js";
import type { VaultOperation, VaultRequest } from "./vault-operation.js";
import { vaultData, vaultErrors } from "./vault-response.js";

export interface VaultKvDeps {
  secrets: SecretsService;
  kv: VaultKvService;
}

const read = { scope: "secrets:read" } as const;
const write = { scope: "secrets:write" } as const;

/** `?version=`: absent or 0 is the latest, as in Vault; anything else must be a version number. */
function versionParam(url: URL): number | undefined {
  const raw = url.searchParams.get("version");
  if (raw === null || raw === "" || raw === "0") return undefined;
  if (!/^\d{1,9}$/.test(raw)) throw new ScaiVaultError("invalid_request", "version must be a non-negative integer");
  return Number(raw);
}

/** A version's metadata as Vault's data and write answers carry it. */
function versionMetadata(version: number, createdAt: Date): JsonObject {
  return { created_time: createdAt.toISOString(), custom_metadata: null, deletion_time: "", destroyed: false, version };
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
  return vaultData(r.requestId, versionMetadata(written.version, written.updatedAt));
}

function versionsMap(versions: VaultVersionView[]): JsonObject {
  const map: JsonObject = {};
  for (const v of versions) {
    map[String(v.version)] = { created_time: v.createdAt.toISOString(), deletion_time: v.deletedAt?.toISOString() ?? "", destroyed: v.destroyed };
  }
  return map;
}

function metadataView(secret: SecretRow, versions: VaultVersionView[]): JsonObject {
  return {
    cas_required: false,
    created_time: secret.created_at.toISOString(),
    current_version: secret.current_version,
    custom_metadata: null,
    delete_version_after: "0s",
    max_versions: secret.max_versions,
    oldest_version: versions[0]?.version ?? 0,
    updated_time: secret.updated_at.toISOString(),
    versions: versionsMap(versions),
  };
}

/** The KV v2 operations of one mount, by Vault's path part (`data`, `metadata`) and method (`LIST` included). */
export function kvOperations(deps: VaultKvDeps): Record<string, Record<string, VaultOperation>> {
  const writeOp: VaultOperation = { action: "vault.kv.write", need: write, run: async (r) => writeData(deps, r, writeInput(await r.body())) };
  return {
    data: {
      GET: {
        action: "vault.kv.read",
        need: read,
        run: async (r) => {
          const got = await deps.secrets.get(r.call, "tenant", r.path, versionParam(r.url));
          return vaultData(r.requestId, { data: got.data, metadata: versionMetadata(got.version, got.createdAt) });
        },
      },
      POST: writeOp,
      PUT: writeOp,
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
          r.call.audited = false;
          const merged = mergePatch(current.data, input.data) as JsonObject;
          return writeData(deps, r, { data: merged, cas: input.cas ?? current.version });
        },
      },
    },
    metadata: {
      GET: {
        action: "vault.kv.metadata.read",
        need: read,
        run: async (r) => {
          const { secret, versions } = await deps.kv.metadataOf(r.call, r.path);
          return vaultData(r.requestId, metadataView(secret, versions));
        },
      },
      LIST: {
        action: "vault.kv.list",
        need: read,
        run: async (r) => vaultData(r.requestId, { keys: await deps.kv.listKeys(r.call, r.path) }),
      },
    },
  };
}

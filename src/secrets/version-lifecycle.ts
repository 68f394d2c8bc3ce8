import { auditAllowed } from "../audit/call-audit.js";
import type { CallContext } from "../auth/principal.js";
import type { Clock } from "../clock.js";
import { inTransaction, type Db, type Tx } from "../db/database.js";
import { parseDuration } from "../duration.js";
import { ScaiVaultError } from "../errors.js";
import { appendEvents } from "../events/outbox-store.js";
import type { SecretReadCache } from "./secret-read-cache.js";
import { validateSecretPath } from "./secret-path.js";
import * as store from "./secrets-store.js";
import type { SecretRow } from "./secrets-store.js";

export interface VersionLifecycleDeps {
  db: Db;
  clock: Clock;
  cache: SecretReadCache;
}

/** What happens to the versions named: Vault's delete, undelete and destroy. */
export type VersionChange = "delete" | "undelete" | "destroy";

/** The per-secret settings Vault's metadata write carries. */
export interface KvSettingsInput {
  maxVersions?: number;
  casRequired?: boolean;
  customMetadata?: Record<string, string>;
  /** Seconds; 0 turns it off. */
  deleteVersionAfterSeconds?: number;
}

const maxCustomKeys = 64;
const maxCustomKeyLength = 128;
const maxCustomValueLength = 512;
const maxVersionsNamed = 1000;
const changeNames: Record<VersionChange, string> = { delete: "versions_deleted", undelete: "versions_undeleted", destroy: "versions_destroyed" };

/** Checks a custom_metadata map against the contract's limits. */
export function validateCustomMetadata(value: unknown): Record<string, string> {
  if (value === null || typeof value !== "object" || Array.isArray(value)) throw new ScaiVaultError("invalid_request", "custom_metadata must be an object of strings");
  const entries = Object.entries(value);
  if (entries.length > maxCustomKeys) throw new ScaiVaultError("invalid_request", `custom_metadata: at most ${maxCustomKeys} keys`);
  for (const [key, v] of entries) {
    if (typeof v !== "string") throw new ScaiVaultError("invalid_request", "custom_metadata values must be strings");
    if (key.length < 1 || key.length > maxCustomKeyLength) throw new ScaiVaultError("invalid_request", `custom_metadata keys must be 1 to ${maxCustomKeyLength} characters`);
    if (v.length > maxCustomValueLength) throw new ScaiVaultError("invalid_request", `custom_metadata values must be at most ${maxCustomValueLength} characters`);
    if (key.includes("\u0000") || v.includes("\u0000")) throw new ScaiVaultError("invalid_request", "custom_metadata must not contain the character U+0000");
  }
  return Object.fromEntries(entries) as Record<string, string>;
}

/** A duration as Vault sends it: a Go duration string (`768h`, `1h30m`, `0s`) or a number of seconds. */
export function parseDeleteVersionAfter(value: unknown): number {
  if (typeof value === "number" && Number.isInteger(value) && value >= 0 && value <= 100 * 365 * 86_400) return value;
  if (typeof value === "string") {
    if (/^0+(?:s|m|h)?$/.test(value)) return 0;
    try {
      return parseDuration(value);
    } catch {
      // refused below
    }
  }
  throw new ScaiVaultError("invalid_duration", "delete_version_after is not a valid duration (e.g. 768h, 1h30m, 0s)");
}

/** Seconds as a Go duration (`768h0m0s`, `1m30s`, `0s`), the form Vault's clients read back. */
export function formatGoDuration(seconds: number): string {
  const h = Math.floor(seconds / 3600);
  const m = Math.floor((seconds % 3600) / 60);
  const s = seconds % 60;
  if (h > 0) return `${h}h${m}m${s}s`;
  if (m > 0) return `${m}m${s}s`;
  return `${s}s`;
}

/**
 * A secret's versions one by one (soft delete, undelete, destroy) and its per-secret settings:
 * Vault's KV v2 model, kept in the secret model itself. Every change is one transaction with its
 * audit entry and its `secret.updated` event (`change` says which), and drops the cached rows.
 */
export function createVersionLifecycle(deps: VersionLifecycleDeps) {
  const { db, clock, cache } = deps;

  async function writing<T>(call: CallContext, path: string, work: (tx: Tx, secret: SecretRow, now: Date) => Promise<T>): Promise<T> {
    validateSecretPath(path);
    try {
      return await inTransaction(db, async (tx) => {
        const secret = await store.findSecret(tx, call.tenantId, path, true);
        if (!secret || secret.deleted_at) throw new ScaiVaultError("secret_not_found", "secret not found");
        return work(tx, secret, clock.now());
      });
    } finally {
      cache.invalidatePath(call.tenantId, path);
    }
  }

  /** Deletes, undeletes or destroys the versions named (unknown ones are ignored, as Vault does); returns those changed. */
  async function changeVersions(call: CallContext, path: string, change: VersionChange, versions: number[]): Promise<number[]> {
    if (versions.length === 0) throw new ScaiVaultError("invalid_request", "no versions provided");
    if (versions.length > maxVersionsNamed || versions.some((v) => !Number.isInteger(v) || v < 1)) throw new ScaiVaultError("invalid_request", "versions must be version numbers");
    return writing(call, path, async (tx, secret, now) => {
      const changed = await store.changeVersions(tx, secret.id, change, [...new Set(versions)], now);
      await recordChange(tx, call, secret, now, { change: changeNames[change], versions: changed });
      return changed;
    });
  }

  /** Deletes the current version (Vault's `DELETE data/{path}`). */
  async function deleteCurrent(call: CallContext, path: string): Promise<number> {
    return writing(call, path, async (tx, secret, now) => {
      const changed = await store.changeVersions(tx, secret.id, "delete", [secret.current_version], now);
      await recordChange(tx, call, secret, now, { change: "versions_deleted", versions: changed });
      return secret.current_version;
    });
  }

  /** Sets max_versions, cas_required, custom_metadata and delete_version_after; those not given stay. */
  async function updateSettings(call: CallContext, path: string, input: KvSettingsInput): Promise<void> {
    if (input.maxVersions !== undefined && (!Number.isInteger(input.maxVersions) || input.maxVersions < 1 || input.maxVersions > 100)) {
      throw new ScaiVaultError("invalid_request", "max_versions must be from 1 to 100");
    }
    const custom = input.customMetadata === undefined ? undefined : validateCustomMetadata(input.customMetadata);
    await writing(call, path, async (tx, secret, now) => {
      await store.updateSecret(tx, secret.id, {
        updated_at: now,
        ...(input.maxVersions !== undefined ? { max_versions: input.maxVersions } : {}),
        ...(input.casRequired !== undefined ? { cas_required: input.casRequired } : {}),
        ...(custom !== undefined ? { custom_metadata: JSON.stringify(custom) } : {}),
        ...(input.deleteVersionAfterSeconds !== undefined ? { delete_version_after_seconds: input.deleteVersionAfterSeconds || null } : {}),
      });
      await recordChange(tx, call, secret, now, { change: "metadata" });
    });
  }

  async function recordChange(tx: Tx, call: CallContext, secret: SecretRow, now: Date, data: Record<string, unknown>) {
    // No stage: what is current may not be readable now, so watchers read again rather than take a version.
    await appendEvents(tx, [{ tenantId: call.tenantId, eventType: "secret.updated", path: secret.path, data: { version: secret.current_version, stage: "", ...data }, createdAt: now }]);
    await auditAllowed(tx, clock, call, { path: secret.path });
  }

  return { changeVersions, deleteCurrent, updateSettings };
}

export type VersionLifecycle = ReturnType<typeof createVersionLifecycle>;

import type { JsonObject } from "@bufbuild/protobuf";
import { parseDuration } from "../duration.js";
import { ScaiVaultError } from "../errors.js";
import type { SecretRow } from "./secrets-store.js";

// What a write of a secret may carry, and the contract's rules for each field.

export const secretTypes = ["kv", "json", "certificate", "ssh_key", "api_key"] as const;
export const MAX_DATA_BYTES = 64 * 1024;
export const DEFAULT_MAX_VERSIONS = 10;
export const DEFAULT_GRACE_SECONDS = 48 * 3600;

export interface SecretMetadataInput {
  description?: string;
  tags?: string[];
  owner?: string;
}
export interface SecretOptionsInput {
  maxVersions?: number;
  expiresIn?: string;
  expiresAt?: Date;
  rotationPolicyId?: string;
  secretPolicyId?: string;
  cas?: number;
}
export interface PutSecretInput {
  data?: JsonObject;
  secretType?: string;
  metadata?: SecretMetadataInput;
  options?: SecretOptionsInput;
}
export interface ListSecretsInput {
  prefix?: string;
  tags: string[];
  secretType?: string;
  expiresBefore?: Date;
  updatedAfter?: Date;
  includeExpired: boolean;
  includeMetadata: boolean;
  limit?: number;
  cursor?: string;
}

export function versionConflict() {
  return new ScaiVaultError("version_conflict", "check-and-set failed: the current version differs; refetch and retry");
}

/** A write's rules against the stored row it would add a version to: not deleted, `cas_required` honoured, the check-and-set met. */
export function checkStoredForWrite(secret: Pick<SecretRow, "deleted_at" | "cas_required" | "current_version">, cas: number | undefined): void {
  if (secret.deleted_at) throw new ScaiVaultError("secret_exists", "a deleted secret at this path is still recoverable; restore it or delete it permanently");
  if (secret.cas_required && cas === undefined) throw new ScaiVaultError("invalid_request", "check-and-set parameter required for this call: the secret has cas_required");
  if (cas !== undefined && cas !== secret.current_version) throw versionConflict();
}

export function requireData(data: JsonObject | undefined, field: string): JsonObject {
  if (data === undefined || data === null || typeof data !== "object" || Array.isArray(data)) {
    throw new ScaiVaultError("invalid_request", `${field} is required and must be an object`);
  }
  if (serializeData(data).length > MAX_DATA_BYTES) {
    throw new ScaiVaultError("payload_too_large", `${field} is over 64 KiB serialized`);
  }
  return data;
}

export function serializeData(data: JsonObject): Buffer {
  return Buffer.from(JSON.stringify(data), "utf8");
}

export function validateSecretType(type: string | undefined): string | undefined {
  if (type === undefined || type === "") return undefined;
  if (!(secretTypes as readonly string[]).includes(type)) {
    throw new ScaiVaultError("invalid_request", `secret_type must be one of ${secretTypes.join(", ")}`);
  }
  return type;
}

export function validateMaxVersions(n: number | undefined): number | undefined {
  if (n === undefined) return undefined;
  if (!Number.isInteger(n) || n < 1 || n > 100) throw new ScaiVaultError("invalid_request", "options.max_versions must be from 1 to 100");
  return n;
}

export function validateMetadata(m: SecretMetadataInput | undefined) {
  if (!m) return;
  if (m.description !== undefined && m.description.length > 1024) throw new ScaiVaultError("invalid_request", "metadata.description is over 1024 characters");
  if (m.owner !== undefined && m.owner.length > 256) throw new ScaiVaultError("invalid_request", "metadata.owner is over 256 characters");
  if (m.tags && (m.tags.length > 64 || m.tags.some((t) => t.length < 1 || t.length > 128))) {
    throw new ScaiVaultError("invalid_request", "metadata.tags: at most 64 tags of 1 to 128 characters");
  }
}

export function metadataChanges(m: SecretMetadataInput | undefined) {
  if (!m) return {};
  return {
    ...(m.description !== undefined ? { description: m.description } : {}),
    ...(m.tags !== undefined ? { tags: dedupe(m.tags) } : {}),
    ...(m.owner !== undefined ? { owner: m.owner } : {}),
  };
}

export function resolveExpiry(opts: SecretOptionsInput, now: Date): Date | undefined {
  if (opts.expiresIn !== undefined && opts.expiresAt !== undefined) {
    throw new ScaiVaultError("invalid_request", "options.expires_in and options.expires_at cannot both be given");
  }
  if (opts.expiresIn !== undefined) return new Date(now.getTime() + parseDurationField(opts.expiresIn, "options.expires_in") * 1000);
  if (opts.expiresAt !== undefined && opts.expiresAt <= now) {
    throw new ScaiVaultError("invalid_request", "options.expires_at must be in the future");
  }
  return opts.expiresAt;
}

/** Parses a duration field or throws `invalid_duration` naming it. */
export function parseDurationField(text: string, field: string): number {
  try {
    return parseDuration(text);
  } catch {
    throw new ScaiVaultError("invalid_duration", `${field} is not a valid duration (e.g. 90d, 48h, 1h30m)`);
  }
}

const MAX_GRACE_SECONDS = 3650 * 86400;

/** A grace period in seconds: a duration up to 3650d, or `0s` (the replaced version stops being readable at once). */
export function parseGracePeriod(text: string, field = "grace_period"): number {
  if (/^\s*(0+[smhdw])+\s*$/.test(text)) return 0;
  const seconds = parseDurationField(text, field);
  if (seconds > MAX_GRACE_SECONDS) throw new ScaiVaultError("invalid_duration", `${field} must be at most 3650d`);
  return seconds;
}

export function dedupe(tags: string[]): string[] {
  return [...new Set(tags)];
}

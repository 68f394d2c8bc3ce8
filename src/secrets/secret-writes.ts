import type { JsonObject } from "@bufbuild/protobuf";
import { auditAllowed, recordChange } from "../audit/call-audit.js";
import { hasScope, type CallContext } from "../auth/principal.js";
import { secretAad } from "../crypto/envelope.js";
import type { Tx } from "../db/database.js";
import { ScaiVaultError } from "../errors.js";
import { liveSecret } from "./live-secret.js";
import {
  DEFAULT_MAX_VERSIONS,
  checkStoredForWrite,
  dedupe,
  metadataChanges,
  requireData,
  resolveExpiry,
  serializeData,
  validateMaxVersions,
  validateMetadata,
  validateSecretType,
  versionConflict,
  type PutSecretInput,
  type SecretMetadataInput,
  type SecretOptionsInput,
} from "./secret-input.js";
import { validateSecretPath } from "./secret-path.js";
import { describe } from "./secret-reads.js";
import { ownerOf, writing, type Namespace, type SecretsServiceDeps } from "./secrets-deps.js";
import * as store from "./secrets-store.js";
import type { SecretRow } from "./secrets-store.js";

// The secrets service's writes: a new version, metadata, deletion and restoration.

/** Stores the secret's new newest version and destroys those beyond its `max_versions`. */
export async function writeVersion(deps: SecretsServiceDeps, tx: Tx, secret: SecretRow, version: number, data: JsonObject, actor: string, now: Date) {
  const { envelope } = deps;
  const sealed = await envelope.encrypt(tx, secret.tenant_id, secretAad(secret.tenant_id, secret.path, version), serializeData(data));
  await store.insertNewestVersion(tx, { secretId: secret.id, version, sealed, createdAt: now, createdBy: actor }, secret.max_versions);
}

/** Creates the first version or appends the next, under a row lock so versions never collide. */
export async function put(deps: SecretsServiceDeps, call: CallContext, ns: Namespace, path: string, input: PutSecretInput) {
  const { envelope, clock, rotation } = deps;
  validateSecretPath(path);
  const ownerId = await ownerOf(deps, call, ns);
  const data = requireData(input.data, "data");
  const secretType = validateSecretType(input.secretType);
  const opts = input.options ?? {};
  const maxVersions = validateMaxVersions(opts.maxVersions);
  // Versions start at 1 and 0 means "create only": a negative expectation can never be met and is a mistake.
  if (opts.cas !== undefined && opts.cas < 0) throw new ScaiVaultError("invalid_request", "options.cas must be 0 or a version number");
  const now = clock.now();
  const expiresAt = resolveExpiry(opts, now);
  validateMetadata(input.metadata);
  await envelope.prepareTenant(ownerId);

  return writing(deps, ownerId, path, async (tx) => {
    if (opts.rotationPolicyId) await rotation.requirePolicy(tx, ownerId, opts.rotationPolicyId);
    if (opts.secretPolicyId) await rotation.requireSecretPolicy(tx, ownerId, opts.secretPolicyId);
    let secret = await store.findSecret(tx, ownerId, path, true);
    let created = false;
    if (!secret) {
      if (opts.cas !== undefined && opts.cas !== 0) throw versionConflict();
      secret = await store.insertSecret(tx, {
        tenant_id: ownerId,
        path,
        secret_type: secretType ?? "kv",
        description: input.metadata?.description ?? null,
        tags: dedupe(input.metadata?.tags ?? []),
        owner: input.metadata?.owner ?? null,
        max_versions: maxVersions ?? DEFAULT_MAX_VERSIONS,
        expires_at: expiresAt ?? null,
        rotation_policy_id: opts.rotationPolicyId ?? null,
        secret_policy_id: opts.secretPolicyId ?? null,
        current_version: 1,
        created_at: now,
        updated_at: now,
      });
      created = secret !== undefined;
      // A concurrent writer created it first: continue as an update under its row lock.
      secret ??= await store.findSecret(tx, ownerId, path, true);
    }
    if (!secret) throw new ScaiVaultError("version_conflict", "concurrent write; refetch and retry");

    let version = 1;
    let previous: number | undefined;
    if (!created) {
      checkStoredForWrite(secret, opts.cas);
      previous = secret.current_version;
      const changes = {
        updated_at: now,
        ...(secretType ? { secret_type: secretType } : {}),
        ...metadataChanges(input.metadata),
        ...(maxVersions !== undefined ? { max_versions: maxVersions } : {}),
        ...(expiresAt !== undefined ? { expires_at: expiresAt } : {}),
        ...(opts.rotationPolicyId ? { rotation_policy_id: opts.rotationPolicyId } : {}),
        ...(opts.secretPolicyId ? { secret_policy_id: opts.secretPolicyId } : {}),
      };
      // Past any version a provider rotation holds (pending) or discarded: numbers are never reused.
      version = await store.advanceToNextVersion(tx, secret.id, changes);
      secret = { ...secret, ...changes, current_version: version };
    }
    await writeVersion(deps, tx, secret, version, data, call.principal.subject, now);
    if (opts.rotationPolicyId) await rotation.assign(tx, ownerId, opts.rotationPolicyId, secret, now);
    if (previous !== undefined) {
      const graceSeconds = await rotation.versionWritten(tx, { tenantId: ownerId, secretId: secret.id, path, oldVersion: previous, newVersion: version, now, actor: call.principal.subject, rotation: false });
      // The write answers a `rotation.due`: the version it replaces stays readable for the grace period only, as after any rotation.
      if (graceSeconds !== undefined) await store.setVersionReadableUntil(tx, secret.id, previous, new Date(now.getTime() + graceSeconds * 1000));
    }
    // The event and the audit entry in one statement: a write's round trip less.
    await recordChange(tx, clock, call, [{ tenantId: ownerId, eventType: created ? "secret.created" : "secret.updated", path, data: { version, secret_type: secret.secret_type }, createdAt: now }], {
      path,
      version,
    });
    return {
      path,
      secretType: secret.secret_type,
      version,
      created,
      createdAt: secret.created_at,
      updatedAt: now,
      expiresAt: secret.expires_at,
      previousVersion: previous,
      customMetadata: secret.custom_metadata,
    };
  });
}

/** Merges metadata and options; creates no version. */
export async function updateMetadata(deps: SecretsServiceDeps, call: CallContext, path: string, metadata: SecretMetadataInput | undefined, opts: SecretOptionsInput) {
  const { db, clock, rotation } = deps;
  validateSecretPath(path);
  validateMetadata(metadata);
  const ownerId = call.tenantId;
  const maxVersions = validateMaxVersions(opts.maxVersions);
  const now = clock.now();
  const expiresAt = resolveExpiry(opts, now);
  if (opts.cas !== undefined) throw new ScaiVaultError("invalid_request", "options.cas applies to writes only");
  await writing(deps, ownerId, path, async (tx) => {
    const secret = await liveSecret(tx, ownerId, path, true);
    if (opts.rotationPolicyId) await rotation.requirePolicy(tx, ownerId, opts.rotationPolicyId);
    if (opts.secretPolicyId) await rotation.requireSecretPolicy(tx, ownerId, opts.secretPolicyId);
    await store.updateSecret(tx, secret.id, {
      updated_at: now,
      ...metadataChanges(metadata),
      ...(maxVersions !== undefined ? { max_versions: maxVersions } : {}),
      ...(expiresAt !== undefined ? { expires_at: expiresAt } : {}),
      ...(opts.rotationPolicyId ? { rotation_policy_id: opts.rotationPolicyId } : {}),
      ...(opts.secretPolicyId ? { secret_policy_id: opts.secretPolicyId } : {}),
    });
    if (maxVersions !== undefined) await store.pruneVersions(tx, secret.id, maxVersions);
    if (opts.rotationPolicyId) await rotation.assign(tx, ownerId, opts.rotationPolicyId, secret, now);
    await auditAllowed(tx, clock, call, { path });
  });
  return describe(deps, db, ownerId, path);
}

/** Soft delete, permanent delete (admin), or destruction of one non-current version. */
export async function remove(deps: SecretsServiceDeps, call: CallContext, ns: Namespace, path: string, opts: { permanent: boolean; version?: number }) {
  const { clock } = deps;
  validateSecretPath(path);
  const ownerId = await ownerOf(deps, call, ns);
  if (opts.permanent && opts.version !== undefined) throw new ScaiVaultError("invalid_request", "permanent and version cannot be combined");
  if (opts.permanent && ns === "tenant" && !hasScope(call.principal, "admin")) {
    throw new ScaiVaultError("access_denied", "permanent delete requires admin");
  }
  const now = clock.now();
  return writing(deps, ownerId, path, async (tx) => {
    const secret = await store.findSecret(tx, ownerId, path, true);
    if (!secret || (secret.deleted_at && !opts.permanent)) throw new ScaiVaultError("secret_not_found", "secret not found");
    if (opts.version !== undefined) {
      if (opts.version === secret.current_version) {
        throw new ScaiVaultError("invalid_request", "the current version cannot be destroyed; write a new version or delete the secret");
      }
      if (!(await store.deleteVersion(tx, secret.id, opts.version))) {
        throw new ScaiVaultError("version_not_found", `version ${opts.version} not found`);
      }
      await auditAllowed(tx, clock, call, { path, version: opts.version });
      return { path, deleted: true, permanent: false, version: opts.version, recoverableUntil: undefined };
    }
    if (opts.permanent) {
      await store.destroySecret(tx, secret.id);
    } else {
      await store.updateSecret(tx, secret.id, {
        deleted_at: now,
        purge_after: new Date(now.getTime() + deps.softDeleteRetentionSeconds * 1000),
      });
    }
    await recordChange(tx, clock, call, [{ tenantId: ownerId, eventType: "secret.deleted", path, data: { permanent: opts.permanent, version: secret.current_version }, createdAt: now }], { path });
    return {
      path,
      deleted: true,
      permanent: opts.permanent,
      version: undefined,
      recoverableUntil: opts.permanent ? undefined : new Date(now.getTime() + deps.softDeleteRetentionSeconds * 1000),
    };
  });
}

export async function restore(deps: SecretsServiceDeps, call: CallContext, path: string) {
  const { clock } = deps;
  validateSecretPath(path);
  const now = clock.now();
  return writing(deps, call.tenantId, path, async (tx) => {
    const secret = await store.findSecret(tx, call.tenantId, path, true);
    if (!secret || !secret.deleted_at || (secret.purge_after && secret.purge_after <= now)) {
      throw new ScaiVaultError("secret_not_found", "no recoverable deleted secret at this path");
    }
    await store.updateSecret(tx, secret.id, { deleted_at: null, purge_after: null, updated_at: now });
    await recordChange(tx, clock, call, [{ tenantId: call.tenantId, eventType: "secret.restored", path, data: { version: secret.current_version }, createdAt: now }], { path, version: secret.current_version });
    return { path, restored: true, version: secret.current_version };
  });
}

/** Removes soft-deleted secrets past their window (the purge job). */
export async function purgeExpiredDeletes(deps: SecretsServiceDeps): Promise<number> {
  const { db, clock, cache } = deps;
  const purged = await store.purgeDeleted(db, clock.now());
  if (purged > 0) cache.clear();
  return purged;
}

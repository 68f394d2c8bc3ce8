import type { JsonObject } from "@bufbuild/protobuf";
import { auditAllowed, auditEntryOf } from "../audit/call-audit.js";
import type { AuditWriter } from "../audit/audit-writer.js";
import { hasScope, type CallContext } from "../auth/principal.js";
import type { Clock } from "../clock.js";
import { secretAad, type Envelope } from "../crypto/envelope.js";
import { inTransaction, type Db, type Executor, type Tx } from "../db/database.js";
import { parseDuration } from "../duration.js";
import { ScaiVaultError } from "../errors.js";
import { appendEvents } from "../events/outbox-store.js";
import { decodeCursor, encodeCursor, pageLimit, pageOf } from "../pagination.js";
import type { TenantDirectory } from "../auth/tenant-directory.js";
import type { AccessRecorder } from "./access-recorder.js";
import type { ProviderRotation } from "./provider-rotation.js";
import type { SecretReadCache } from "./secret-read-cache.js";
import { readSecretRows } from "./cached-secret-read.js";
import { openSecretValue } from "./secret-value.js";
import { validateSecretPath } from "./secret-path.js";
import { isReadable, versionState } from "./version-state.js";
import * as store from "./secrets-store.js";
import type { SecretRow } from "./secrets-store.js";
import { liveSecret } from "./live-secret.js";

export const secretTypes = ["kv", "json", "certificate", "ssh_key", "api_key"] as const;
const MAX_DATA_BYTES = 64 * 1024;
const DEFAULT_MAX_VERSIONS = 10;
const DEFAULT_GRACE_SECONDS = 48 * 3600;

/** What a rotate call asks for. */
export interface RotateInput {
  reason?: string;
  newValue?: JsonObject;
  gracePeriod?: string;
  /** Rotate now even inside an earlier grace period (needs admin); see src/rotation/emergency-rotation.ts. */
  emergency?: boolean;
}

/** What a rotate call answers. */
export interface RotateOutcome {
  path: string;
  version: number;
  previousVersion: number;
  rotatedAt: Date;
  previousReadableUntil: Date | undefined;
  emergency: boolean;
  runId?: string;
  revokedVersion?: number;
  detail?: string;
}
const DAY_MS = 86_400_000;

/** Tenant secrets, or the partner-wide namespace that every tenant of a partner reads. */
export type Namespace = "tenant" | "partner";

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

/** What the secrets service needs from rotation: policies, assignments and their bookkeeping. */
export interface RotationLinks {
  /** Checks the policy exists in the tenant; throws `rotation_policy_not_found`. */
  requirePolicy(exec: Executor, tenantId: string, policyId: string): Promise<{ name: string; gracePeriodSeconds: number; autoGenerate: boolean; secretPolicyId: string | null }>;
  /** Checks the secret policy exists; throws `secret_policy_not_found`. */
  requireSecretPolicy(exec: Executor, tenantId: string, secretPolicyId: string): Promise<void>;
  /** Assigns (or re-assigns) a secret to a policy. */
  assign(tx: Tx, tenantId: string, policyId: string, secret: { id: number; path: string }, now: Date): Promise<void>;
  /** The schedule of a secret's assignment, if any; a scheduled policy's also gives the window of the next rotation. */
  assignmentOf(exec: Executor, secretId: number): Promise<{ policyId: string; nextRotationAt: Date; windowOpensAt: Date | null; windowClosesAt: Date | null } | undefined>;
  /**
   * Bookkeeping after any new version: pending rotations complete, the schedule restarts. Returns
   * the grace period (seconds) of the event-driven rotation the write completed, if it completed one.
   */
  versionWritten(tx: Tx, change: { tenantId: string; secretId: number; path: string; oldVersion: number; newVersion: number; now: Date; actor: string; rotation: boolean }): Promise<number | undefined>;
  /** Generates a new value for an auto-generating policy (or undefined when the policy does not generate). */
  generateValue(exec: Executor, tenantId: string, secret: SecretRow, currentData: JsonObject): Promise<JsonObject | undefined>;
  /** Records a per-secret rotation in the history. */
  recordRotation(tx: Tx, item: { tenantId: string; policyId: string | null; secretId: number; path: string; oldVersion: number; newVersion: number; at: Date; by: string; reason?: string }): Promise<void>;
}

export interface SecretsServiceDeps {
  db: Db;
  envelope: Envelope;
  clock: Clock;
  access: AccessRecorder;
  rotation: RotationLinks;
  /** Rotation through the secret's provider, when it has one. */
  providerRotation?: ProviderRotation;
  /** Ciphertext rows for the read path, invalidated on every change. */
  cache: SecretReadCache;
  /** Whether a cached row is checked against the database's before use: true wherever several replicas may write (PostgreSQL). */
  checkCachedRows: boolean;
  /** Group-committed audit entries for reads. */
  auditWriter: AuditWriter;
  softDeleteRetentionSeconds: number;
  /** The tenant registry: which partner's shared secrets a tenant reads. */
  directory: Pick<TenantDirectory, "partnerOf">;
  /** A listing's `total_count` is exact up to this many matches, a lower bound beyond. */
  listCountLimit: number;
}

/** The secrets use cases: every rule of the contract about paths, versions, expiry and deletion lives here. */
export function createSecretsService(deps: SecretsServiceDeps) {
  const { db, envelope, clock, access, rotation, cache, auditWriter } = deps;

  /** Runs a write transaction, then drops the path from this replica's read cache (others hear the trigger's notice). */
  async function writing<T>(ownerId: string, path: string, work: (tx: Tx) => Promise<T>): Promise<T> {
    try {
      return await inTransaction(db, work);
    } finally {
      cache.invalidatePath(ownerId, path);
    }
  }

  async function ownerOf(call: CallContext, ns: Namespace): Promise<string> {
    if (ns === "tenant") return call.tenantId;
    const partner = await partnerOfCaller(call, deps.directory);
    // A caller outside any partner sees no partner secrets, exactly as if the path did not exist.
    if (!partner) throw new ScaiVaultError("secret_not_found", "secret not found");
    return `partner:${partner}`;
  }

  async function decryptVersion(exec: Executor, secret: SecretRow, version: number): Promise<{ data: JsonObject; createdAt: Date }> {
    const row = await store.findVersion(exec, secret.id, version);
    if (!row || (row.readable_until && row.readable_until <= clock.now())) {
      throw new ScaiVaultError("version_not_found", `version ${version} not found`);
    }
    return { data: await openSecretValue(envelope, exec, secret, row), createdAt: row.created_at };
  }

  /** Stores the secret's new newest version and destroys those beyond its `max_versions`. */
  async function writeVersion(tx: Tx, secret: SecretRow, version: number, data: JsonObject, actor: string, now: Date) {
    const sealed = await envelope.encrypt(tx, secret.tenant_id, secretAad(secret.tenant_id, secret.path, version), serializeData(data));
    await store.insertNewestVersion(tx, { secretId: secret.id, version, sealed, createdAt: now, createdBy: actor }, secret.max_versions);
  }

  /** Creates the first version or appends the next, under a row lock so versions never collide. */
  async function put(call: CallContext, ns: Namespace, path: string, input: PutSecretInput) {
    validateSecretPath(path);
    const ownerId = await ownerOf(call, ns);
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

    return writing(ownerId, path, async (tx) => {
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
      if (secret.deleted_at) throw new ScaiVaultError("secret_exists", "a deleted secret at this path is still recoverable; restore it or delete it permanently");

      let version = 1;
      let previous: number | undefined;
      if (!created) {
        if (secret.cas_required && opts.cas === undefined) throw new ScaiVaultError("invalid_request", "check-and-set parameter required for this call: the secret has cas_required");
        if (opts.cas !== undefined && opts.cas !== secret.current_version) throw versionConflict();
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
      await writeVersion(tx, secret, version, data, call.principal.subject, now);
      if (opts.rotationPolicyId) await rotation.assign(tx, ownerId, opts.rotationPolicyId, secret, now);
      if (previous !== undefined) {
        const graceSeconds = await rotation.versionWritten(tx, { tenantId: ownerId, secretId: secret.id, path, oldVersion: previous, newVersion: version, now, actor: call.principal.subject, rotation: false });
        // The write answers a `rotation.due`: the version it replaces stays readable for the grace period only, as after any rotation.
        if (graceSeconds !== undefined) await store.setVersionReadableUntil(tx, secret.id, previous, new Date(now.getTime() + graceSeconds * 1000));
      }
      await appendEvents(tx, [
        { tenantId: ownerId, eventType: created ? "secret.created" : "secret.updated", path, data: { version, secret_type: secret.secret_type }, createdAt: now },
      ]);
      await auditAllowed(tx, clock, call, { path, version });
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

  /** Reads the current version, or the one asked for: from cached ciphertext rows when it can, decrypted per read. */
  async function get(call: CallContext, ns: Namespace, path: string, version?: number, stage?: string) {
    validateSecretPath(path);
    const ownerId = await ownerOf(call, ns);
    if (version !== undefined && (!Number.isInteger(version) || version < 1)) {
      throw new ScaiVaultError("version_not_found", `version ${version} not found`);
    }
    if (stage) {
      if (version !== undefined) throw new ScaiVaultError("invalid_request", "version and stage cannot be combined");
      if (stage !== "current") return getStage(call, ownerId, path, stage);
    }
    const rows = await readSecretRows({ db, cache, checkStamps: deps.checkCachedRows }, ownerId, path, version);
    if (!rows || rows.secret.deleted_at) throw new ScaiVaultError("secret_not_found", "secret not found");
    const { secret, row } = rows;
    const now = clock.now();
    if (secret.expires_at && secret.expires_at <= now) throw new ScaiVaultError("secret_expired", "secret expired");
    const v = version ?? secret.current_version;
    // A pending version is read by stage only; discarded and revoked ones not at all.
    // Deleted and destroyed versions (on their own or by delete_version_after) are not read either.
    if (!row || row.rotation_state !== null || !isReadable(secret, row, now)) {
      throw new ScaiVaultError("version_not_found", `version ${v} not found`);
    }
    const data = await openSecretValue(envelope, db, secret, row);
    // The value is returned only after its audit entry is durable (group-committed with other reads).
    await auditWriter.append(auditEntryOf(call, now, "allowed", { path, version: v }));
    call.audited = true;
    access.record(secret.id);
    return { secret, version: v, data, createdAt: row.created_at };
  }

  /** Reads the `pending` or `previous` version, straight from the database (stage reads are rare). */
  async function getStage(call: CallContext, ownerId: string, path: string, stage: string) {
    if (stage !== "pending" && stage !== "previous") throw new ScaiVaultError("invalid_request", "stage must be current, pending or previous");
    const secret = await liveSecret(db, ownerId, path);
    const now = clock.now();
    if (secret.expires_at && secret.expires_at <= now) throw new ScaiVaultError("secret_expired", "secret expired");
    const staged = stagesOf(await store.listVersions(db, secret.id), secret.current_version, now, secret).find((v) => v.stage === stage);
    if (!staged) throw new ScaiVaultError("version_not_found", `no ${stage} version`);
    const row = (await store.findVersion(db, secret.id, staged.version))!;
    const data = await openSecretValue(envelope, db, secret, row);
    await auditWriter.append(auditEntryOf(call, now, "allowed", { path, version: row.version }));
    call.audited = true;
    access.record(secret.id);
    return { secret, version: row.version, data, createdAt: row.created_at };
  }

  /** Merges metadata and options; creates no version. */
  async function updateMetadata(call: CallContext, path: string, metadata: SecretMetadataInput | undefined, opts: SecretOptionsInput) {
    validateSecretPath(path);
    validateMetadata(metadata);
    const ownerId = call.tenantId;
    const maxVersions = validateMaxVersions(opts.maxVersions);
    const now = clock.now();
    const expiresAt = resolveExpiry(opts, now);
    if (opts.cas !== undefined) throw new ScaiVaultError("invalid_request", "options.cas applies to writes only");
    await writing(ownerId, path, async (tx) => {
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
    return describe(db, ownerId, path);
  }

  /** What is known about a secret without its value. */
  async function describe(exec: Executor, ownerId: string, path: string) {
    const secret = await liveSecret(exec, ownerId, path);
    const since = new Date(clock.now().getTime() - 30 * DAY_MS).toISOString().slice(0, 10);
    // Reads not yet flushed are taken before the query: a flush that commits meanwhile can make
    // this one answer count a read twice, but never miss one.
    const unflushed = access.pending(secret.id);
    const lastUnflushed = access.lastAccess(secret.id);
    const [versionCount, accessCount, lastFlushed, assignment] = await Promise.all([
      store.countVersions(exec, secret.id),
      store.accessCountSince(exec, secret.id, since),
      store.lastAccessedAt(exec, secret.id),
      rotation.assignmentOf(exec, secret.id),
    ]);
    return {
      secret,
      versionCount,
      accessCount30d: accessCount + unflushed,
      lastAccessedAt: lastUnflushed ?? lastFlushed,
      rotation: assignment,
    };
  }

  async function metadata(call: CallContext, path: string) {
    validateSecretPath(path);
    const result = await describe(db, call.tenantId, path);
    await auditAllowed(db, clock, call, { path });
    return result;
  }

  /** Lists live secrets with the guide's filters; the cursor is the last path seen (keyset). */
  async function list(call: CallContext, input: ListSecretsInput) {
    const limit = pageLimit(input.limit);
    if (input.secretType) validateSecretType(input.secretType);
    const query: store.SecretListQuery = {
      ownerId: call.tenantId,
      prefix: input.prefix || undefined,
      tags: input.tags,
      secretType: input.secretType || undefined,
      expiresBefore: input.expiresBefore,
      updatedAfter: input.updatedAfter,
      includeExpired: input.includeExpired,
      now: clock.now(),
      afterPath: input.cursor ? String(decodeCursor(input.cursor, "after")) : undefined,
      limit,
    };
    const [rows, total] = await Promise.all([store.listSecretsPage(db, query), store.countSecretsUpTo(db, query, deps.listCountLimit)]);
    const page = pageOf(rows, limit, (last) => encodeCursor("after", last.path));
    const details = input.includeMetadata ? await Promise.all(page.rows.map((r) => describe(db, call.tenantId, r.path))) : undefined;
    await auditAllowed(db, clock, call, { path: input.prefix });
    return { ...page, details, totalCount: total.count, totalCountExact: total.exact };
  }

  async function versions(call: CallContext, path: string) {
    validateSecretPath(path);
    const secret = await liveSecret(db, call.tenantId, path);
    const now = clock.now();
    const rows = stagesOf(await store.listVersions(db, secret.id), secret.current_version, now, secret);
    await auditAllowed(db, clock, call, { path });
    return { secret, versions: rows.map((v) => ({ ...v, isCurrent: v.version === secret.current_version })) };
  }

  /** Soft delete, permanent delete (admin), or destruction of one non-current version. */
  async function remove(call: CallContext, ns: Namespace, path: string, opts: { permanent: boolean; version?: number }) {
    validateSecretPath(path);
    const ownerId = await ownerOf(call, ns);
    if (opts.permanent && opts.version !== undefined) throw new ScaiVaultError("invalid_request", "permanent and version cannot be combined");
    if (opts.permanent && ns === "tenant" && !hasScope(call.principal, "admin")) {
      throw new ScaiVaultError("access_denied", "permanent delete requires admin");
    }
    const now = clock.now();
    return writing(ownerId, path, async (tx) => {
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
      await appendEvents(tx, [
        { tenantId: ownerId, eventType: "secret.deleted", path, data: { permanent: opts.permanent, version: secret.current_version }, createdAt: now },
      ]);
      await auditAllowed(tx, clock, call, { path });
      return {
        path,
        deleted: true,
        permanent: opts.permanent,
        version: undefined,
        recoverableUntil: opts.permanent ? undefined : new Date(now.getTime() + deps.softDeleteRetentionSeconds * 1000),
      };
    });
  }

  async function restore(call: CallContext, path: string) {
    validateSecretPath(path);
    const now = clock.now();
    return writing(call.tenantId, path, async (tx) => {
      const secret = await store.findSecret(tx, call.tenantId, path, true);
      if (!secret || !secret.deleted_at || (secret.purge_after && secret.purge_after <= now)) {
        throw new ScaiVaultError("secret_not_found", "no recoverable deleted secret at this path");
      }
      await store.updateSecret(tx, secret.id, { deleted_at: null, purge_after: null, updated_at: now });
      await appendEvents(tx, [{ tenantId: call.tenantId, eventType: "secret.restored", path, data: { version: secret.current_version }, createdAt: now }]);
      await auditAllowed(tx, clock, call, { path, version: secret.current_version });
      return { path, restored: true, version: secret.current_version };
    });
  }

  /** Writes a new version now and keeps the previous one readable for the grace period only. */
  async function rotate(call: CallContext, path: string, input: RotateInput): Promise<RotateOutcome> {
    validateSecretPath(path);
    const ownerId = call.tenantId;
    const graceOverride = input.gracePeriod !== undefined && input.gracePeriod !== "" ? parseGracePeriod(input.gracePeriod) : undefined;
    if (input.newValue !== undefined) requireData(input.newValue, "new_value");
    if (input.emergency && !call.principal.scopes.has("admin")) {
      throw new ScaiVaultError("access_denied", "an emergency rotation needs the admin scope besides secrets:rotate");
    }
    const bound = deps.providerRotation && (await rotateThroughProvider(call, path, input, graceOverride));
    if (bound) return bound;
    await envelope.prepareTenant(ownerId);
    return writing(ownerId, path, async (tx) => {
      const secret = await liveSecret(tx, ownerId, path, true);
      const now = clock.now();
      const policy = secret.rotation_policy_id ? await rotation.requirePolicy(tx, ownerId, secret.rotation_policy_id).catch(() => undefined) : undefined;
      let data = input.newValue;
      if (!data) {
        const current = await decryptVersion(tx, secret, secret.current_version);
        data = await rotation.generateValue(tx, ownerId, secret, current.data);
        if (!data) throw new ScaiVaultError("invalid_request", "new_value is required unless the secret's rotation policy has auto_generate: true");
      }
      const graceSeconds = graceOverride ?? policy?.gracePeriodSeconds ?? DEFAULT_GRACE_SECONDS;
      const previous = secret.current_version;
      const version = await store.advanceToNextVersion(tx, secret.id, { updated_at: now });
      await writeVersion(tx, secret, version, data, call.principal.subject, now);
      const readableUntil = new Date(now.getTime() + graceSeconds * 1000);
      await store.setVersionReadableUntil(tx, secret.id, previous, readableUntil);
      await rotation.recordRotation(tx, {
        tenantId: ownerId,
        policyId: secret.rotation_policy_id,
        secretId: secret.id,
        path,
        oldVersion: previous,
        newVersion: version,
        at: now,
        by: call.principal.subject,
        reason: input.reason,
      });
      await rotation.versionWritten(tx, { tenantId: ownerId, secretId: secret.id, path, oldVersion: previous, newVersion: version, now, actor: call.principal.subject, rotation: true });
      await appendEvents(tx, [
        {
          tenantId: ownerId,
          eventType: "rotation.completed",
          path,
          policyId: secret.rotation_policy_id ?? undefined,
          data: {
            ...(secret.rotation_policy_id ? { policy_id: secret.rotation_policy_id, policy_name: policy?.name ?? null } : {}),
            old_version: previous,
            new_version: version,
            rotated_by: call.principal.subject,
            reason: input.reason ?? null,
            ...(input.emergency ? { emergency: true } : {}),
          },
          createdAt: now,
        },
      ]);
      await auditAllowed(tx, clock, call, { path, version });
      return { path, version, previousVersion: previous, rotatedAt: now, previousReadableUntil: readableUntil, emergency: input.emergency ?? false };
    });
  }

  /** A secret bound to a provider rotates there: the answer comes once the run is promoted (or failed). */
  async function rotateThroughProvider(call: CallContext, path: string, input: RotateInput, graceSeconds: number | undefined): Promise<RotateOutcome | undefined> {
    const secret = await liveSecret(db, call.tenantId, path);
    const promoted = await deps.providerRotation!.rotateBound(call, secret, { newValue: input.newValue, graceSeconds, emergency: input.emergency ?? false, reason: input.reason });
    if (!promoted) return undefined;
    cache.invalidatePath(call.tenantId, path);
    await auditAllowed(db, clock, call, { path, version: promoted.version });
    return { path, ...promoted };
  }

  async function expiring(call: CallContext, days = 30) {
    if (!Number.isInteger(days) || days < 1 || days > 3650) throw new ScaiVaultError("invalid_request", "days must be from 1 to 3650");
    const now = clock.now();
    const rows = await store.listExpiring(db, call.tenantId, now, new Date(now.getTime() + days * DAY_MS));
    await auditAllowed(db, clock, call);
    return rows.map((r) => ({
      path: r.path,
      expiresAt: r.expires_at!,
      daysRemaining: Math.ceil((r.expires_at!.getTime() - now.getTime()) / DAY_MS),
    }));
  }

  /** Removes soft-deleted secrets past their window (the purge job). */
  async function purgeExpiredDeletes(): Promise<number> {
    const purged = await store.purgeDeleted(db, clock.now());
    if (purged > 0) cache.clear();
    return purged;
  }

  return { put, get, updateMetadata, metadata, list, versions, remove, restore, rotate, expiring, purgeExpiredDeletes };
}

export type SecretsService = ReturnType<typeof createSecretsService>;

/**
 * The API's stage of each version: `pending` (a provider rotation's, not yet promoted), `current`,
 * `previous` (the newest readable one before current), `deprecated`, `deleted` (on its own or by
 * the secret's delete_version_after) or `destroyed`; discarded, revoked and past-grace versions
 * are left out.
 */
export function stagesOf<T extends { version: number; created_at: Date; readable_until: Date | null; rotation_state: string | null; deleted_at?: Date | null; destroyed_at?: Date | null }>(
  rows: T[],
  currentVersion: number,
  now: Date,
  secret: { delete_version_after_seconds?: number | null } = {},
) {
  const withState = rows.map((v) => ({ v, state: versionState(secret, v, now) }));
  const removedOnItsOwn = (v: T, state: { deletedAt: Date | null; destroyed: boolean }) => state.destroyed || v.deleted_at || (state.deletedAt && v.readable_until?.getTime() !== state.deletedAt.getTime());
  const visible = withState.filter(({ v, state }) => v.rotation_state === "pending" || (v.rotation_state === null && (state.deletedAt === null || removedOnItsOwn(v, state))));
  const previous = visible.find(({ v, state }) => v.rotation_state === null && state.deletedAt === null && v.version < currentVersion)?.v;
  return visible.map(({ v, state }) => ({
    ...v,
    deletedAt: state.deletedAt,
    destroyed: state.destroyed,
    stage:
      v.rotation_state === "pending"
        ? "pending"
        : state.destroyed
          ? "destroyed"
          : state.deletedAt
            ? "deleted"
            : v.version === currentVersion
              ? "current"
              : v === previous
                ? "previous"
                : "deprecated",
  }));
}

function versionConflict() {
  return new ScaiVaultError("version_conflict", "check-and-set failed: the current version differs; refetch and retry");
}

function requireData(data: JsonObject | undefined, field: string): JsonObject {
  if (data === undefined || data === null || typeof data !== "object" || Array.isArray(data)) {
    throw new ScaiVaultError("invalid_request", `${field} is required and must be an object`);
  }
  if (serializeData(data).length > MAX_DATA_BYTES) {
    throw new ScaiVaultError("payload_too_large", `${field} is over 64 KiB serialized`);
  }
  return data;
}

function serializeData(data: JsonObject): Buffer {
  return Buffer.from(JSON.stringify(data), "utf8");
}

function validateSecretType(type: string | undefined): string | undefined {
  if (type === undefined || type === "") return undefined;
  if (!(secretTypes as readonly string[]).includes(type)) {
    throw new ScaiVaultError("invalid_request", `secret_type must be one of ${secretTypes.join(", ")}`);
  }
  return type;
}

function validateMaxVersions(n: number | undefined): number | undefined {
  if (n === undefined) return undefined;
  if (!Number.isInteger(n) || n < 1 || n > 100) throw new ScaiVaultError("invalid_request", "options.max_versions must be from 1 to 100");
  return n;
}

function validateMetadata(m: SecretMetadataInput | undefined) {
  if (!m) return;
  if (m.description !== undefined && m.description.length > 1024) throw new ScaiVaultError("invalid_request", "metadata.description is over 1024 characters");
  if (m.owner !== undefined && m.owner.length > 256) throw new ScaiVaultError("invalid_request", "metadata.owner is over 256 characters");
  if (m.tags && (m.tags.length > 64 || m.tags.some((t) => t.length < 1 || t.length > 128))) {
    throw new ScaiVaultError("invalid_request", "metadata.tags: at most 64 tags of 1 to 128 characters");
  }
}

function metadataChanges(m: SecretMetadataInput | undefined) {
  if (!m) return {};
  return {
    ...(m.description !== undefined ? { description: m.description } : {}),
    ...(m.tags !== undefined ? { tags: dedupe(m.tags) } : {}),
    ...(m.owner !== undefined ? { owner: m.owner } : {}),
  };
}

function resolveExpiry(opts: SecretOptionsInput, now: Date): Date | undefined {
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

function dedupe(tags: string[]): string[] {
  return [...new Set(tags)];
}

/**
 * The partner whose shared secrets a call sees. A partner admin acting as itself works in the
 * partner its token administers (the claim with the `partner_admin` role, as for `/v1/t/`); any
 * other call (a member tenant, or an admin acting for a tenant) gets the partner the tenant
 * registry places the acting tenant under, whatever the token's `partner_id` says.
 */
async function partnerOfCaller(call: CallContext, directory: Pick<TenantDirectory, "partnerOf">): Promise<string | undefined> {
  const { principal } = call;
  if (principal.partnerAdmin && call.tenantId === principal.tenantId) return principal.partnerId;
  return directory.partnerOf(call.tenantId);
}

import type { JsonObject } from "@bufbuild/protobuf";
import type { AccessRecorder } from "./access-recorder.js";
import type { AuditWriter } from "../audit/audit-writer.js";
import type { CallContext } from "../auth/principal.js";
import type { TenantDirectory } from "../auth/tenant-directory.js";
import type { Clock } from "../clock.js";
import type { Envelope } from "../crypto/envelope.js";
import { inTransaction, type Db, type Executor, type Tx } from "../db/database.js";
import { ScaiVaultError } from "../errors.js";
import type { ProviderRotation } from "./provider-rotation.js";
import type { SecretReadCache } from "./secret-read-cache.js";
import { openSecretValue } from "./secret-value.js";
import * as store from "./secrets-store.js";
import type { SecretRow } from "./secrets-store.js";
import type { StampChecker } from "./stamp-checker.js";

// What every use case of the secrets service shares: its dependencies, the owner of a call's
// secrets, the write transaction and the decryption of a stored version.

/** Tenant secrets, or the partner-wide namespace that every tenant of a partner reads. */
export type Namespace = "tenant" | "partner";

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
  /**
   * `versionWritten` for many new versions of one tenant's secrets (none of them a rotation), in
   * a fixed number of statements; the grace period (seconds) of each completed event-driven
   * rotation, by secret id.
   */
  versionsWritten(tx: Tx, tenantId: string, changes: { secretId: number; oldVersion: number; newVersion: number; now: Date; actor: string }[]): Promise<Map<number, number>>;
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
  /** Checks a cached row against the database's before use: present wherever several replicas may write (PostgreSQL). */
  cachedRowChecks: StampChecker | undefined;
  /** Group-committed audit entries for reads. */
  auditWriter: AuditWriter;
  softDeleteRetentionSeconds: number;
  /** The tenant registry: which partner's shared secrets a tenant reads. */
  directory: Pick<TenantDirectory, "partnerOf">;
  /** A listing's `total_count` is exact up to this many matches, a lower bound beyond. */
  listCountLimit: number;
  /** Most items of one batch write. */
  batchPutMaxItems: number;
}

/** Runs a write transaction, then drops the path from this replica's read cache (others hear the trigger's notice). */
export async function writing<T>(deps: SecretsServiceDeps, ownerId: string, path: string, work: (tx: Tx) => Promise<T>): Promise<T> {
  const { db, cache } = deps;
  try {
    return await inTransaction(db, work);
  } finally {
    cache.invalidatePath(ownerId, path);
  }
}

export async function ownerOf(deps: SecretsServiceDeps, call: CallContext, ns: Namespace): Promise<string> {
  if (ns === "tenant") return call.tenantId;
  const partner = await partnerOfCaller(call, deps.directory);
  // A caller outside any partner sees no partner secrets, exactly as if the path did not exist.
  if (!partner) throw new ScaiVaultError("secret_not_found", "secret not found");
  return `partner:${partner}`;
}

export async function decryptVersion(deps: SecretsServiceDeps, exec: Executor, secret: SecretRow, version: number): Promise<{ data: JsonObject; createdAt: Date }> {
  const { envelope, clock } = deps;
  const row = await store.findVersion(exec, secret.id, version);
  if (!row || (row.readable_until && row.readable_until <= clock.now())) {
    throw new ScaiVaultError("version_not_found", `version ${version} not found`);
  }
  return { data: await openSecretValue(envelope, exec, secret, row), createdAt: row.created_at };
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

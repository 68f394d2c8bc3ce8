import type { JsonObject } from "@bufbuild/protobuf";
import { generateValue, type GenerationRules } from "../crypto/value-generator.js";
import type { Executor, Tx } from "../db/database.js";
import { ScaiVaultError } from "../errors.js";
import type { RotationLinks } from "../secrets/secrets-service.js";
import { completePendingItems, startNextCycles } from "./policy-batch-store.js";
import { completePending, failOpenPending, planColumns, recordSuccess, spreadKeyOf } from "./policy-store.js";
import { nextRotationPlan, timingOf } from "../rotation-planning/rotation-window.js";

/** Reads a policy row or throws `rotation_policy_not_found`. */
export async function findPolicyOrThrow(exec: Executor, tenantId: string, policyId: string) {
  const row = await exec.selectFrom("rotation_policies").selectAll().where("tenant_id", "=", tenantId).where("id", "=", policyId).executeTakeFirst();
  if (!row) throw new ScaiVaultError("rotation_policy_not_found", `rotation policy ${policyId} not found`);
  return row;
}

/** Reads a secret policy row or throws `secret_policy_not_found`. */
export async function findSecretPolicyOrThrow(exec: Executor, tenantId: string, id: string) {
  const row = await exec.selectFrom("secret_policies").selectAll().where("tenant_id", "=", tenantId).where("id", "=", id).executeTakeFirst();
  if (!row) throw new ScaiVaultError("secret_policy_not_found", `secret policy ${id} not found`);
  return row;
}

export type SecretPolicyRow = Awaited<ReturnType<typeof findSecretPolicyOrThrow>>;

/** The generation rules of a stored secret policy. */
export function rulesOf(row: SecretPolicyRow): GenerationRules {
  return {
    length: row.length,
    charset: row.charset as GenerationRules["charset"],
    chars: row.chars ?? undefined,
    requireUppercase: row.require_uppercase,
    requireLowercase: row.require_lowercase,
    requireDigits: row.require_digits,
    requireSymbols: row.require_symbols,
    excludeChars: row.exclude_chars ?? undefined,
  };
}

/** Upserts an assignment: the schedule starts at the assignment time (the first window is the next one to open). */
export async function assignSecret(tx: Tx, tenantId: string, policyId: string, secret: { id: number; path: string }, now: Date) {
  const policy = await findPolicyOrThrow(tx, tenantId, policyId);
  const timing = timingOf(policy);
  const plan = nextRotationPlan(timing, now, now, spreadKeyOf(secret.id));
  const existing = await tx.selectFrom("rotation_assignments").selectAll().where("secret_id", "=", secret.id).forUpdate().executeTakeFirst();
  if (existing && existing.policy_id === policyId) return existing;
  if (existing) await failOpenPending(tx, secret.id, existing.policy_id, `secret moved to rotation policy ${policyId}`);
  await tx.deleteFrom("rotation_assignments").where("secret_id", "=", secret.id).execute();
  await tx.updateTable("secrets").set({ rotation_policy_id: policyId }).where("id", "=", secret.id).execute();
  return tx
    .insertInto("rotation_assignments")
    .values({
      tenant_id: tenantId,
      policy_id: policyId,
      secret_id: secret.id,
      secret_path: secret.path,
      assigned_at: now,
      last_rotated_at: null,
      ...planColumns(timing, plan),
      cycle: 0,
      warned: [],
      attempts: 0,
      retry_at: null,
      claimed_until: null,
    })
    .returningAll()
    .executeTakeFirstOrThrow();
}

/** The rotation side of the secrets service. */
export function createRotationLinks(): RotationLinks {
  return {
    async requirePolicy(exec, tenantId, policyId) {
      const p = await findPolicyOrThrow(exec, tenantId, policyId);
      return { name: p.name, gracePeriodSeconds: p.grace_period_seconds, autoGenerate: p.auto_generate, secretPolicyId: p.secret_policy_id };
    },
    async requireSecretPolicy(exec, tenantId, id) {
      await findSecretPolicyOrThrow(exec, tenantId, id);
    },
    async assign(tx, tenantId, policyId, secret, now) {
      await assignSecret(tx, tenantId, policyId, secret, now);
    },
    async assignmentOf(exec, secretId) {
      const row = await exec
        .selectFrom("rotation_assignments")
        .select(["policy_id", "next_rotation_at", "window_opens_at", "window_closes_at"])
        .where("secret_id", "=", secretId)
        .executeTakeFirst();
      return row ? { policyId: row.policy_id, nextRotationAt: row.next_rotation_at, windowOpensAt: row.window_opens_at, windowClosesAt: row.window_closes_at } : undefined;
    },
    async versionWritten(tx, change) {
      const completed = await completePending(tx, change);
      if (change.rotation || completed !== undefined) await startNextCycles(tx, [{ secretId: change.secretId, at: change.now }]);
      if (!completed?.policy_id) return undefined;
      const policy = await tx.selectFrom("rotation_policies").select("grace_period_seconds").where("tenant_id", "=", change.tenantId).where("id", "=", completed.policy_id).executeTakeFirst();
      return policy?.grace_period_seconds;
    },
    async versionsWritten(tx, tenantId, changes) {
      const completed = await completePendingItems(
        tx,
        changes.map((c) => ({ secretId: c.secretId, previousVersion: c.oldVersion, version: c.newVersion, at: c.now, by: c.actor, reason: "" })),
      );
      const graces = new Map<number, number>();
      if (completed.size === 0) return graces;
      const at = new Map(changes.map((c) => [c.secretId, c.now]));
      await startNextCycles(tx, [...completed.keys()].map((secretId) => ({ secretId, at: at.get(secretId)! })));
      const policyIds = [...new Set([...completed.values()].map((h) => h.policy_id).filter((id): id is string => id !== null))];
      if (policyIds.length === 0) return graces;
      const policies = await tx.selectFrom("rotation_policies").select(["id", "grace_period_seconds"]).where("tenant_id", "=", tenantId).where("id", "in", policyIds).execute();
      const graceOf = new Map(policies.map((p) => [p.id, p.grace_period_seconds]));
      for (const [secretId, h] of completed) {
        const grace = h.policy_id ? graceOf.get(h.policy_id) : undefined;
        if (grace !== undefined) graces.set(secretId, grace);
      }
      return graces;
    },
    async generateValue(exec, tenantId, secret, currentData) {
      if (!secret.rotation_policy_id) return undefined;
      const policy = await exec
        .selectFrom("rotation_policies")
        .select(["auto_generate", "secret_policy_id"])
        .where("tenant_id", "=", tenantId)
        .where("id", "=", secret.rotation_policy_id)
        .executeTakeFirst();
      if (!policy?.auto_generate) return undefined;
      return generateData(exec, tenantId, secret.secret_policy_id ?? policy.secret_policy_id, currentData);
    },
    async recordRotation(tx, item) {
      await recordSuccess(tx, item);
    },
  };
}

/**
 * The data of a generated version: the current data with each of the secret policy's fields
 * replaced by a fresh value (no policy: 32 alphanumeric characters in `password`).
 */
export async function generateData(exec: Executor, tenantId: string, secretPolicyId: string | null, currentData: JsonObject): Promise<JsonObject> {
  return generateWith(secretPolicyId ? await findSecretPolicyOrThrow(exec, tenantId, secretPolicyId) : undefined, currentData);
}

/** `generateData` with the secret policy already read. */
export function generateWith(sp: SecretPolicyRow | undefined, currentData: JsonObject): JsonObject {
  const rules: GenerationRules = sp
    ? rulesOf(sp)
    : { length: 32, charset: "alphanumeric", requireUppercase: false, requireLowercase: false, requireDigits: false, requireSymbols: false };
  const fields = sp?.fields.length ? sp.fields : ["password"];
  const next: JsonObject = { ...currentData };
  for (const field of fields) next[field] = generateValue(rules);
  return next;
}

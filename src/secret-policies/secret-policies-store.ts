import type { Insertable, Selectable, Updateable } from "kysely";
import type { Executor } from "../db/database.js";
import type { SecretPoliciesTable } from "../db/schema.js";

/** Data access for value-generation policies. Every function takes the database or a transaction first. */

export type SecretPolicyRow = Selectable<SecretPoliciesTable>;

/** Inserts a policy unless its id is taken; undefined when it is. */
export async function insertSecretPolicy(exec: Executor, row: Insertable<SecretPoliciesTable>): Promise<SecretPolicyRow | undefined> {
  return exec
    .insertInto("secret_policies")
    .values(row)
    .onConflict((oc) => oc.columns(["tenant_id", "id"]).doNothing())
    .returningAll()
    .executeTakeFirst();
}

/** Reads a policy; `forUpdate` locks it. */
export async function findSecretPolicy(exec: Executor, tenantId: string, id: string, forUpdate = false): Promise<SecretPolicyRow | undefined> {
  let query = exec.selectFrom("secret_policies").selectAll().where("tenant_id", "=", tenantId).where("id", "=", id);
  if (forUpdate) query = query.forUpdate();
  return query.executeTakeFirst();
}

/** One page in id order (keyset: after `afterId`), one extra row to tell `has_more`. */
export async function listSecretPolicies(exec: Executor, q: { tenantId: string; afterId?: string; limit: number }): Promise<SecretPolicyRow[]> {
  let query = exec.selectFrom("secret_policies").selectAll().where("tenant_id", "=", q.tenantId);
  if (q.afterId !== undefined) query = query.where("id", ">", q.afterId);
  return query.orderBy("id").limit(q.limit + 1).execute();
}

/** Updates columns of a policy and returns the row. */
export async function updateSecretPolicy(exec: Executor, tenantId: string, id: string, changes: Updateable<SecretPoliciesTable>): Promise<SecretPolicyRow> {
  return exec.updateTable("secret_policies").set(changes).where("tenant_id", "=", tenantId).where("id", "=", id).returningAll().executeTakeFirstOrThrow();
}

/** Deletes a policy. */
export async function deleteSecretPolicy(exec: Executor, tenantId: string, id: string): Promise<void> {
  await exec.deleteFrom("secret_policies").where("tenant_id", "=", tenantId).where("id", "=", id).execute();
}

/** Who still generates with a policy: the first rotation policy or live secret that names it, if any. */
export async function firstUserOf(exec: Executor, tenantId: string, id: string): Promise<string | undefined> {
  const policy = await exec
    .selectFrom("rotation_policies")
    .select("id")
    .where("tenant_id", "=", tenantId)
    .where("secret_policy_id", "=", id)
    .orderBy("id")
    .executeTakeFirst();
  if (policy) return `rotation policy ${policy.id}`;
  const secret = await exec
    .selectFrom("secrets")
    .select("path")
    .where("tenant_id", "=", tenantId)
    .where("secret_policy_id", "=", id)
    .where("deleted_at", "is", null)
    .orderBy("path")
    .executeTakeFirst();
  return secret && `secret ${secret.path}`;
}

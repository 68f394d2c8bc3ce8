import { sql } from "kysely";
import type { Db, Executor } from "../db/database.js";

/** Data access for the data_keys table: each tenant's data keys, wrapped by the master key. */

/** One tenant's data key as stored: wrapped, with the id of the master key that wrapped it. */
export async function findDataKey(exec: Executor, tenantId: string, keyId: number) {
  return exec.selectFrom("data_keys").select(["wrapped_key", "master_key_id"]).where("tenant_id", "=", tenantId).where("key_id", "=", keyId).executeTakeFirst();
}

/** The tenant's newest data key id, or undefined when it has none yet. */
export async function newestDataKeyId(exec: Executor, tenantId: string): Promise<number | undefined> {
  const row = await exec
    .selectFrom("data_keys")
    .select(sql<number | null>`max(key_id)`.as("key_id"))
    .where("tenant_id", "=", tenantId)
    .executeTakeFirst();
  return row?.key_id ?? undefined;
}

/** Stores a tenant's data key unless that id exists (another replica won the race; its key stands). */
export async function insertDataKeyIfAbsent(db: Db, row: { tenant_id: string; key_id: number; wrapped_key: Buffer; master_key_id: string }): Promise<void> {
  await db.insertInto("data_keys").values(row).onConflict((oc) => oc.doNothing()).execute();
}

/** Every data key, locked for the transaction (re-wrapping under a new master key). */
export async function lockAllDataKeys(exec: Executor) {
  return exec.selectFrom("data_keys").selectAll().forUpdate().execute();
}

/** Replaces one data key's wrapping. */
export async function rewrapDataKey(exec: Executor, tenantId: string, keyId: number, wrappedKey: Buffer, masterKeyId: string): Promise<void> {
  await exec.updateTable("data_keys").set({ wrapped_key: wrappedKey, master_key_id: masterKeyId }).where("tenant_id", "=", tenantId).where("key_id", "=", keyId).execute();
}

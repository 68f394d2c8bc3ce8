import { sql } from "kysely";
import type { Executor } from "../db/database.js";

/** A row of the tenant registry. */
export interface TenantRow {
  tenant_id: string;
  partner_id: string;
  display_name: string | null;
  created_at: Date;
  updated_at: Date;
}

/** Registers a tenant or moves it to another partner; `created` tells which. */
export async function upsertTenant(
  exec: Executor,
  tenant: { tenantId: string; partnerId: string; displayName: string | null; now: Date },
): Promise<{ row: TenantRow; created: boolean }> {
  const row = await exec
    .insertInto("tenants")
    .values({
      tenant_id: tenant.tenantId,
      partner_id: tenant.partnerId,
      display_name: tenant.displayName,
      created_at: tenant.now,
      updated_at: tenant.now,
    })
    .onConflict((oc) =>
      oc.column("tenant_id").doUpdateSet({ partner_id: tenant.partnerId, display_name: tenant.displayName, updated_at: tenant.now }),
    )
    // xmax is 0 only for a row this statement inserted (an update leaves the old version's id there).
    .returning(["tenant_id", "partner_id", "display_name", "created_at", "updated_at", sql<boolean>`xmax = 0`.as("created")])
    .executeTakeFirstOrThrow();
  const { created, ...rest } = row;
  return { row: rest, created };
}

/** A tenant's registration, or undefined. */
export function findTenant(exec: Executor, tenantId: string): Promise<TenantRow | undefined> {
  return exec.selectFrom("tenants").selectAll().where("tenant_id", "=", tenantId).executeTakeFirst();
}

/** The partner a tenant is registered under, or undefined. */
export async function partnerOfTenant(exec: Executor, tenantId: string): Promise<string | undefined> {
  const row = await exec.selectFrom("tenants").select("partner_id").where("tenant_id", "=", tenantId).executeTakeFirst();
  return row?.partner_id;
}

/** Registered tenants ordered by id, after a keyset position, optionally of one partner. */
export function listTenants(exec: Executor, q: { partnerId?: string; afterId?: string; limit: number }): Promise<TenantRow[]> {
  let query = exec.selectFrom("tenants").selectAll().orderBy("tenant_id").limit(q.limit + 1);
  if (q.partnerId !== undefined) query = query.where("partner_id", "=", q.partnerId);
  if (q.afterId !== undefined) query = query.where("tenant_id", ">", q.afterId);
  return query.execute();
}

/** Removes a tenant's registration; false when there was none. */
export async function deleteTenant(exec: Executor, tenantId: string): Promise<boolean> {
  const result = await exec.deleteFrom("tenants").where("tenant_id", "=", tenantId).executeTakeFirst();
  return Number(result.numDeletedRows) > 0;
}

import type { Executor } from "../db/database.js";

/** One audit entry as written. Never a value. */
export interface AuditEntry {
  time: Date;
  requestId: string;
  actor: string;
  actingTenant: string;
  targetTenant: string;
  action: string;
  path?: string;
  version?: number;
  outcome: string;
  clientAddress?: string;
}

/** Appends entries; callers pass their transaction so the entry commits with the change it records. */
export async function appendAuditEntries(exec: Executor, entries: AuditEntry[]): Promise<void> {
  if (entries.length === 0) return;
  await exec
    .insertInto("audit_events")
    .values(
      entries.map((e) => ({
        time: e.time,
        request_id: e.requestId,
        actor: e.actor,
        acting_tenant: e.actingTenant,
        target_tenant: e.targetTenant,
        action: e.action,
        path: e.path ?? null,
        version: e.version ?? null,
        outcome: e.outcome,
        client_address: e.clientAddress ?? null,
      })),
    )
    .execute();
}

export interface AuditQuery {
  tenantId: string;
  path?: string;
  action?: string;
  actor?: string;
  since?: Date;
  until?: Date;
  beforeId?: number;
  limit: number;
}

/** Lists a tenant's entries (as target or actor's tenant), newest first, keyset-paged by id. */
export async function listAuditEntries(exec: Executor, q: AuditQuery) {
  let query = exec
    .selectFrom("audit_events")
    .selectAll()
    .where((eb) => eb.or([eb("target_tenant", "=", q.tenantId), eb("acting_tenant", "=", q.tenantId)]))
    .orderBy("id", "desc")
    .limit(q.limit + 1);
  if (q.path !== undefined) query = query.where("path", "=", q.path);
  if (q.action !== undefined) query = query.where("action", "=", q.action);
  if (q.actor !== undefined) query = query.where("actor", "=", q.actor);
  if (q.since) query = query.where("time", ">=", q.since);
  if (q.until) query = query.where("time", "<", q.until);
  if (q.beforeId !== undefined) query = query.where("id", "<", q.beforeId);
  return query.execute();
}

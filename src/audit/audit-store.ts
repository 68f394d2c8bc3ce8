import { sql } from "kysely";
import type { Executor } from "../db/database.js";

/** One audit entry as written. Never a value. */
export interface AuditEntry {
  time: Date;
  requestId: string;
  /** The `x-request-id` the client sent, if any. */
  clientRequestId?: string;
  actor: string;
  actingTenant: string;
  targetTenant: string;
  action: string;
  path?: string;
  version?: number;
  outcome: string;
  clientAddress?: string;
}

/**
 * Appends entries; callers pass their transaction so the entry commits with the change it records.
 * One statement of eleven array parameters however many entries there are: a batch of the read
 * path's group commit costs PostgreSQL one short parse, not a VALUES list of hundreds of parameters.
 */
export async function appendAuditEntries(exec: Executor, entries: AuditEntry[]): Promise<void> {
  if (entries.length === 0) return;
  await auditInsert(entries).execute(exec);
}

/**
 * The INSERT of `appendAuditEntries` as a statement to run or to nest in another (a data-modifying
 * `WITH`, so a write's audit entry costs no round trip of its own). `entries` must not be empty.
 * Its columns are named rather than `*`, so the statement, and one it is nested in, can be prepared.
 */
export function auditInsert(entries: AuditEntry[]) {
  const column = <T>(pick: (e: AuditEntry) => T) => entries.map(pick);
  // A failed call is audited with the path it named, which may hold a NUL that PostgreSQL's text refuses.
  const storable = (text: string | undefined) => (text?.includes("\0") ? text.replaceAll("\0", "\uFFFD") : text);
  return sql`
    insert into audit_events (time, request_id, actor, acting_tenant, target_tenant, action, path, version, outcome, client_address, client_request_id)
    select e.time, e.request_id, e.actor, e.acting_tenant, e.target_tenant, e.action, e.path, e.version, e.outcome, e.client_address, e.client_request_id
    from unnest(
      ${column((e) => e.time.toISOString())}::timestamptz[], ${column((e) => e.requestId)}::text[], ${column((e) => e.actor)}::text[],
      ${column((e) => e.actingTenant)}::text[], ${column((e) => e.targetTenant)}::text[], ${column((e) => e.action)}::text[],
      ${column((e) => storable(e.path) ?? null)}::text[], ${column((e) => e.version ?? null)}::integer[], ${column((e) => e.outcome)}::text[],
      ${column((e) => e.clientAddress ?? null)}::text[], ${column((e) => e.clientRequestId ?? null)}::text[]
    ) as e(time, request_id, actor, acting_tenant, target_tenant, action, path, version, outcome, client_address, client_request_id)`;
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

import { appendAuditEntries } from "../audit/audit-store.js";
import { auditEntryOf } from "../audit/call-audit.js";
import { hasScope, type CallContext } from "../auth/principal.js";
import type { Clock } from "../clock.js";
import { inTransaction, type Db } from "../db/database.js";
import { ScaiVaultError } from "../errors.js";
import { decodeCursor, encodeCursor, pageLimit, pageOf } from "../pagination.js";
import * as store from "./tenants-store.js";

// The tenant registry: operators (`platform:admin`) say which partner each tenant belongs to. It is
// the only source of partner membership for cross-tenant calls; tokens never change it.

/** The scope of operators who manage the registry; a tenant's `admin` does not hold it. */
export const platformAdminScope = "platform:admin";

const idPattern = /^[A-Za-z0-9._-]{1,128}$/;
const controlCharacters = /[\u0000-\u001f\u007f-\u009f]/;

export interface TenantsServiceDeps {
  db: Db;
  clock: Clock;
  /** Told after a registration changed, so this replica's directory need not wait for the NOTIFY. */
  changed?: (tenantId: string) => void;
}

function requireId(value: string, field: string): string {
  if (!idPattern.test(value)) throw new ScaiVaultError("invalid_request", `${field} must be 1-128 characters of A-Z a-z 0-9 . _ -`);
  return value;
}

/** Audits a registry call against the tenant it concerns, so that tenant sees it in its own log too. */
async function audit(exec: Parameters<typeof appendAuditEntries>[0], clock: Clock, call: CallContext, tenantId: string) {
  await appendAuditEntries(exec, [auditEntryOf({ ...call, tenantId }, clock.now(), "allowed")]);
}

/** Registers a tenant under a partner or moves it; every replica honours the change within a second (NOTIFY). */
export async function putTenant(deps: TenantsServiceDeps, call: CallContext, input: { tenantId: string; partnerId: string; displayName?: string }) {
  const tenantId = requireId(input.tenantId, "tenant_id");
  const partnerId = requireId(input.partnerId, "partner_id");
  const displayName = input.displayName ?? null;
  if (displayName !== null && (displayName.length > 200 || controlCharacters.test(displayName))) {
    throw new ScaiVaultError("invalid_request", "display_name must be at most 200 characters without control characters");
  }
  const result = await inTransaction(deps.db, async (tx) => {
    const result = await store.upsertTenant(tx, { tenantId, partnerId, displayName, now: deps.clock.now() });
    await audit(tx, deps.clock, call, tenantId);
    return result;
  });
  deps.changed?.(tenantId);
  return result;
}

/** A tenant's registration; `tenant_not_found` when it has none. */
export async function getTenant(deps: TenantsServiceDeps, call: CallContext, tenantId: string) {
  requireId(tenantId, "tenant_id");
  const row = await store.findTenant(deps.db, tenantId);
  if (!row) throw new ScaiVaultError("tenant_not_found", "tenant not registered");
  await audit(deps.db, deps.clock, call, tenantId);
  return row;
}

/** Lists registrations: operators see all (or one partner's); a partner admin only its own partner's. */
export async function listTenants(deps: TenantsServiceDeps, call: CallContext, input: { partnerId?: string; limit?: number; cursor?: string }) {
  const { principal } = call;
  if (input.partnerId !== undefined) requireId(input.partnerId, "partner_id");
  const ownPartner = principal.partnerAdmin && input.partnerId !== undefined && input.partnerId === principal.partnerId;
  if (!hasScope(principal, platformAdminScope) && !ownPartner) {
    throw new ScaiVaultError("access_denied", `requires scope ${platformAdminScope}, or a partner admin listing its own partner (partner_id)`);
  }
  const limit = pageLimit(input.limit);
  const afterId = input.cursor ? String(decodeCursor(input.cursor, "after")) : undefined;
  const rows = await store.listTenants(deps.db, { partnerId: input.partnerId, afterId, limit });
  await appendAuditEntries(deps.db, [auditEntryOf(call, deps.clock.now(), "allowed")]);
  return pageOf(rows, limit, (last) => encodeCursor("after", last.tenant_id));
}

/** Removes a tenant's partner relation (never its data); `deleted: false` when it was not registered. */
export async function deleteTenant(deps: TenantsServiceDeps, call: CallContext, tenantId: string) {
  requireId(tenantId, "tenant_id");
  const deleted = await inTransaction(deps.db, async (tx) => {
    const deleted = await store.deleteTenant(tx, tenantId);
    await audit(tx, deps.clock, call, tenantId);
    return deleted;
  });
  deps.changed?.(tenantId);
  return deleted;
}

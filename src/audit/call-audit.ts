import type { Executor } from "../db/database.js";
import type { CallContext } from "../auth/principal.js";
import type { Clock } from "../clock.js";
import { appendAuditEntries, type AuditEntry } from "./audit-store.js";

/** Builds the audit entry of a call. */
export function auditEntryOf(call: CallContext, now: Date, outcome: string, target?: { path?: string; version?: number }): AuditEntry {
  return {
    time: now,
    requestId: call.requestId,
    clientRequestId: call.clientRequestId,
    actor: call.principal.subject,
    actingTenant: call.principal.tenantId,
    targetTenant: call.tenantId,
    action: call.action,
    path: target?.path,
    version: target?.version,
    outcome,
    clientAddress: call.clientAddress,
  };
}

/** Records a successful call's audit entry inside the transaction of the change. */
export async function auditAllowed(
  exec: Executor,
  clock: Clock,
  call: CallContext,
  target?: { path?: string; version?: number },
): Promise<void> {
  await appendAuditEntries(exec, [auditEntryOf(call, clock.now(), "allowed", target)]);
}

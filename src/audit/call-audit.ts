import type { Executor } from "../db/database.js";
import type { CallContext } from "../auth/principal.js";
import type { Clock } from "../clock.js";
import { appendEventsWith, type OutboxEvent } from "../events/outbox-store.js";
import { appendAuditEntries, auditInsert, type AuditEntry } from "./audit-store.js";

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

/**
 * A change's events and the call's audit entry, in one statement (one round trip where
 * `appendEvents` then `auditAllowed` took two), inside the transaction of the change.
 */
export async function recordChange(exec: Executor, clock: Clock, call: CallContext, events: OutboxEvent[], target?: { path?: string; version?: number }): Promise<void> {
  await appendEventsWith(exec, events, auditInsert([auditEntryOf(call, clock.now(), "allowed", target)]));
}

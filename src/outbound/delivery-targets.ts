// What webhooks and notification channels share as delivery targets: their names, the event
// types they subscribe to, the SSRF check of a URL they post to, the cursors of their listings,
// the attempt log and the test ping. The services of both call these; each keeps what is its own.
import { auditAllowed } from "../audit/call-audit.js";
import type { CallContext } from "../auth/principal.js";
import type { Clock } from "../clock.js";
import type { Db, Tx } from "../db/database.js";
import { ScaiVaultError } from "../errors.js";
import { appendEvents, eventTypes } from "../events/outbox-store.js";
import { decodeCursor, encodeCursor, pageLimit, pageOf } from "../pagination.js";
import { listAttemptsPage, queueDelivery, type DeliveryQueue } from "./delivery-queue.js";
import { checkWebhookUrl, SsrfRefusedError, type AllowList, type ResolveAll } from "./ssrf-guard.js";

const NAME_PATTERN = /^[a-z0-9_-]{1,64}$/;

/** A target's name: required, 1 to 64 characters of a-z, 0-9, _ and -. */
export function validTargetName(name: string | undefined): string {
  if (name === undefined || name === "") throw new ScaiVaultError("invalid_request", "name is required");
  if (!NAME_PATTERN.test(name)) throw new ScaiVaultError("invalid_request", "name must be 1 to 64 characters of a-z, 0-9, _ and -");
  return name;
}

/** The contract's event types, each once; `invalid_request` naming the first unknown one. */
export function validEventTypes(events: string[]): string[] {
  for (const e of events) {
    if (!(eventTypes as readonly string[]).includes(e)) {
      throw new ScaiVaultError("invalid_request", `events: unknown event type ${JSON.stringify(e).slice(0, 80)}; one of ${eventTypes.join(", ")}`);
    }
  }
  return [...new Set(events)];
}

/** A URL a target posts to, through the SSRF guard (resolving the host); a refusal is `invalid_request`, prefixed with `field`. */
export async function guardedTargetUrl(url: string, allow: AllowList, resolve: ResolveAll, field = ""): Promise<string> {
  try {
    return (await checkWebhookUrl(url, allow, resolve)).toString();
  } catch (err) {
    if (err instanceof SsrfRefusedError) throw new ScaiVaultError("invalid_request", `${field}${err.message}`);
    throw err;
  }
}

/** The position of a listing of targets by id (`after`); undefined on the first page. */
export function afterIdOf(cursor: string | undefined): string | undefined {
  const after = cursor ? decodeCursor(cursor, "after") : undefined;
  if (after !== undefined && typeof after !== "string") throw invalidCursor();
  return after;
}

/** What the shared use cases need of a service. */
export interface TargetDeps {
  db: Db;
  clock: Clock;
}

/** A target as the shared use cases see it. */
export interface TargetRow {
  id: string;
  is_active: boolean;
}

/** One page of a target's attempt log, newest first; `existing` throws the target's not-found error. */
export async function listTargetAttempts(
  deps: TargetDeps,
  queue: DeliveryQueue,
  call: CallContext,
  id: string,
  input: { limit?: number; cursor?: string },
  existing: (db: Db, tenantId: string, id: string) => Promise<TargetRow>,
) {
  const limit = pageLimit(input.limit);
  const before = input.cursor ? decodeCursor(input.cursor, "before") : undefined;
  if (before !== undefined && typeof before !== "number") throw invalidCursor();
  await existing(deps.db, call.tenantId, id);
  const rows = await listAttemptsPage(deps.db, queue, call.tenantId, id, before, limit);
  await auditAllowed(deps.db, deps.clock, call, { path: id });
  return pageOf(rows, limit, (last) => encodeCursor("before", last.id));
}

/**
 * Queues a `ping` event for this one target, in the caller's transaction: the delivery worker
 * sends it like any other. `what` names the kind of target in the refusal of a disabled one.
 */
export async function queueTestPing(deps: TargetDeps, tx: Tx, queue: DeliveryQueue, call: CallContext, target: TargetRow, what: string) {
  const tenantId = call.tenantId;
  const now = deps.clock.now();
  if (!target.is_active) throw new ScaiVaultError("invalid_request", `${what} ${target.id} is disabled; enable it (is_active: true) before testing`);
  const [eventId] = await appendEvents(tx, [{ tenantId, eventType: "ping", data: { [queue.targetColumn]: target.id }, createdAt: now }]);
  // Already fanned out: the ping goes to this target alone.
  await tx.updateTable("events").set({ dispatched_at: now }).where("id", "=", eventId!).execute();
  await queueDelivery(tx, queue, { tenantId, targetId: target.id, eventId: eventId!, now });
  await auditAllowed(tx, deps.clock, call, { path: target.id });
  return { eventId: eventId!, queued: true };
}

function invalidCursor() {
  return new ScaiVaultError("invalid_request", "cursor is invalid");
}

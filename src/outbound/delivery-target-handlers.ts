// The handlers webhooks and notification channels share: delete, the attempt log and the test
// ping read an id, call the service and answer with the kind's own messages (of one shape for
// both kinds, built by the kind so that their fields stay type-checked).
import type { HandlerContext } from "@connectrpc/connect";
import { callOf, tsOf } from "../handler-support.js";
import type { CallContext } from "../auth/principal.js";
import type { AttemptRow } from "./delivery-queue.js";

/** The service calls the shared handlers make. */
export interface TargetService {
  remove(call: CallContext, id: string): Promise<{ id: string; deleted: boolean }>;
  deliveries(call: CallContext, id: string, input: { limit?: number; cursor?: string }): Promise<{ rows: AttemptRow[]; cursor?: string; hasMore: boolean }>;
  test(call: CallContext, id: string): Promise<{ eventId: string; queued: boolean }>;
}

/** How the kind builds its answers (its own message types, of one shape for both kinds). */
export interface TargetAnswers<Deleted, Attempts, Tested> {
  deleted(r: { id: string; deleted: boolean }): Deleted;
  attempts(page: { data: ReturnType<typeof attemptFieldsOf>[]; cursor?: string; hasMore: boolean }): Attempts;
  tested(r: { eventId: string; queued: boolean }): Tested;
}

/** The fields of a delivery attempt message (WebhookDelivery, NotificationDelivery) from a row of an attempt log. */
export function attemptFieldsOf(row: AttemptRow) {
  return {
    id: `att_${row.id}`,
    eventId: row.event_id,
    eventType: row.event_type,
    attempt: row.attempt,
    attemptedAt: tsOf(row.attempted_at),
    statusCode: row.status_code ?? undefined,
    latencyMs: row.latency_ms,
    error: row.error ?? undefined,
    nextRetryAt: tsOf(row.next_retry_at),
    state: row.state,
  };
}

/** Delete, list deliveries and test, for one kind of target. */
export function targetHandlers<Deleted, Attempts, Tested>(service: TargetService, answers: TargetAnswers<Deleted, Attempts, Tested>) {
  return {
    async remove(req: { id: string }, ctx: HandlerContext) {
      return answers.deleted(await service.remove(callOf(ctx), req.id));
    },
    async deliveries(req: { id: string; limit?: number; cursor?: string }, ctx: HandlerContext) {
      const r = await service.deliveries(callOf(ctx), req.id, { limit: req.limit, cursor: req.cursor });
      return answers.attempts({ data: r.rows.map(attemptFieldsOf), cursor: r.cursor, hasMore: r.hasMore });
    },
    async test(req: { id: string }, ctx: HandlerContext) {
      return answers.tested(await service.test(callOf(ctx), req.id));
    },
  };
}

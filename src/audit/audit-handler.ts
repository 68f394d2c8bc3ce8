import { create } from "@bufbuild/protobuf";
import type { ServiceImpl } from "@connectrpc/connect";
import { AuditEventSchema, ListAuditEventsResponseSchema, type AuditService } from "../../gen/scaivault/v1/audit_pb.js";
import type { Db } from "../db/database.js";
import { decodeCursor, encodeCursor, pageLimit, pageOf } from "../pagination.js";
import { callOf, dateOf, tsOf } from "../handler-support.js";
import { listAuditEntries } from "./audit-store.js";

/** `GET /v1/audit/events`: the tenant's audit log, newest first. */
export function createAuditHandler(db: Db): ServiceImpl<typeof AuditService> {
  return {
    async listAuditEvents(req, ctx) {
      const call = callOf(ctx);
      const limit = pageLimit(req.limit);
      const beforeId = req.cursor ? Number(decodeCursor(req.cursor, "before")) : undefined;
      const rows = await listAuditEntries(db, {
        tenantId: call.tenantId,
        path: req.path,
        action: req.action,
        actor: req.actor,
        since: dateOf(req.since),
        until: dateOf(req.until),
        beforeId,
        limit,
      });
      const page = pageOf(rows, limit, (last) => encodeCursor("before", last.id));
      return create(ListAuditEventsResponseSchema, {
        data: page.rows.map((r) =>
          create(AuditEventSchema, {
            id: String(r.id),
            time: tsOf(r.time),
            requestId: r.request_id,
            actor: r.actor,
            actingTenant: r.acting_tenant,
            targetTenant: r.target_tenant,
            action: r.action,
            path: r.path ?? undefined,
            version: r.version ?? undefined,
            outcome: r.outcome,
            clientAddress: r.client_address ?? undefined,
            clientRequestId: r.client_request_id ?? undefined,
          }),
        ),
        cursor: page.cursor,
        hasMore: page.hasMore,
      });
    },
  };
}

import { create } from "@bufbuild/protobuf";
import type { ServiceImpl } from "@connectrpc/connect";
import { AuditEventSchema, ListAuditEventsResponseSchema, type AuditService } from "../../gen/scaivault/v1/audit_pb.js";
import type { Db } from "../db/database.js";
import { ScaiVaultError } from "../errors.js";
import { callOf, dateOf, tsOf } from "../secrets/secrets-handler.js";
import { listAuditEntries } from "./audit-store.js";

/** `GET /v1/audit/events`: the tenant's audit log, newest first. */
export function createAuditHandler(db: Db): ServiceImpl<typeof AuditService> {
  return {
    async listAuditEvents(req, ctx) {
      const call = callOf(ctx);
      const limit = req.limit ?? 50;
      if (!Number.isInteger(limit) || limit < 1 || limit > 200) throw new ScaiVaultError("invalid_request", "limit must be from 1 to 200");
      let beforeId: number | undefined;
      if (req.cursor) {
        beforeId = Number(Buffer.from(req.cursor, "base64url").toString("utf8"));
        if (!Number.isSafeInteger(beforeId) || beforeId < 1) throw new ScaiVaultError("invalid_request", "cursor is not valid");
      }
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
      const hasMore = rows.length > limit;
      const page = rows.slice(0, limit);
      return create(ListAuditEventsResponseSchema, {
        data: page.map((r) =>
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
          }),
        ),
        cursor: hasMore ? Buffer.from(String(page[page.length - 1]!.id)).toString("base64url") : undefined,
        hasMore,
      });
    },
  };
}

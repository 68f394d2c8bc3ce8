import { create } from "@bufbuild/protobuf";
import type { ServiceImpl } from "@connectrpc/connect";
import {
  DeleteTenantResponseSchema,
  ListTenantsResponseSchema,
  TenantSchema,
  type TenantService,
} from "../../gen/scaivault/v1/tenants_pb.js";
import { asCreated, callOf, tsOf } from "../handler-support.js";
import * as service from "./tenants-service.js";
import type { TenantRow } from "./tenants-store.js";

/** Thin handlers of the tenant registry. */
export function createTenantsHandler(deps: service.TenantsServiceDeps): ServiceImpl<typeof TenantService> {
  return {
    async putTenant(req, ctx) {
      const { row, created } = await service.putTenant(deps, callOf(ctx), {
        tenantId: req.tenantId,
        partnerId: req.partnerId,
        displayName: req.displayName,
      });
      return created ? asCreated(tenantMessage(row)) : tenantMessage(row);
    },

    async getTenant(req, ctx) {
      return tenantMessage(await service.getTenant(deps, callOf(ctx), req.tenantId));
    },

    async listTenants(req, ctx) {
      const page = await service.listTenants(deps, callOf(ctx), { partnerId: req.partnerId, limit: req.limit, cursor: req.cursor });
      return create(ListTenantsResponseSchema, { data: page.rows.map(tenantMessage), cursor: page.cursor, hasMore: page.hasMore });
    },

    async deleteTenant(req, ctx) {
      const deleted = await service.deleteTenant(deps, callOf(ctx), req.tenantId);
      return create(DeleteTenantResponseSchema, { tenantId: req.tenantId, deleted });
    },
  };
}

function tenantMessage(row: TenantRow) {
  return create(TenantSchema, {
    tenantId: row.tenant_id,
    partnerId: row.partner_id,
    displayName: row.display_name ?? undefined,
    createdAt: tsOf(row.created_at),
    updatedAt: tsOf(row.updated_at),
  });
}

import { DeleteTenantResponseSchema, TenantSchema } from "../../../clients/typescript/src/index.js";
import { UsageError, type GroupSpec } from "../cli.js";
import { allPages, intOption, stringOption } from "../input.js";
import { keyValues, messageJson, objectTable } from "../output.js";

/** `scaivault tenants ...`: the tenant registry (scope platform:admin). */
export const tenantCommands: GroupSpec = {
  name: "tenants",
  summary: "The tenant registry: which partner each tenant belongs to (scope platform:admin)",
  commands: [
    {
      name: "list",
      summary: "List registered tenants (partner admins: --partner with their own partner)",
      options: {
        partner: { type: "string", value: "ID", description: "Only the tenants of this partner" },
        limit: { type: "string", value: "N", description: "At most N rows" },
      },
      async run(ctx) {
        const client = await ctx.client();
        const partnerId = stringOption(ctx, "partner");
        const rows = [];
        for await (const t of allPages(async (cursor, limit) => {
          const page = await client.tenants.listTenants({ partnerId, limit, cursor });
          return { rows: page.data, cursor: page.cursor, hasMore: page.hasMore };
        }, intOption(ctx, "limit"))) rows.push(messageJson(TenantSchema, t));
        if (ctx.json) return ctx.printJson(rows);
        ctx.print(objectTable(["tenant_id", "partner_id", "display_name", "updated_at"], rows));
      },
    },
    {
      name: "put",
      summary: "Register a tenant under a partner, or move it to another",
      args: ["TENANT"],
      options: {
        partner: { type: "string", value: "ID", description: "The partner the tenant belongs to (required)" },
        name: { type: "string", value: "TEXT", description: "A display name" },
      },
      async run(ctx) {
        const partnerId = stringOption(ctx, "partner");
        if (!partnerId) throw new UsageError("--partner ID is required");
        const tenant = await (await ctx.client()).tenants.putTenant({ tenantId: ctx.arg("TENANT"), partnerId, displayName: stringOption(ctx, "name") });
        const json = messageJson(TenantSchema, tenant);
        if (ctx.json) return ctx.printJson(json);
        ctx.print(keyValues(json));
      },
    },
    {
      name: "show",
      summary: "Show a tenant's registration",
      args: ["TENANT"],
      async run(ctx) {
        const json = messageJson(TenantSchema, await (await ctx.client()).tenants.getTenant({ tenantId: ctx.arg("TENANT") }));
        if (ctx.json) return ctx.printJson(json);
        ctx.print(keyValues(json));
      },
    },
    {
      name: "delete",
      summary: "Remove a tenant's partner relation (never its data)",
      args: ["TENANT"],
      async run(ctx) {
        const json = messageJson(DeleteTenantResponseSchema, await (await ctx.client()).tenants.deleteTenant({ tenantId: ctx.arg("TENANT") }));
        if (ctx.json) return ctx.printJson(json);
        ctx.print(keyValues(json));
      },
    },
  ],
};

import { BoundedMap } from "../bounded-map.js";
import type { Db } from "../db/database.js";
import type { Clock } from "../clock.js";
import type { Principal } from "./principal.js";

/**
 * Which tenants belong to which partner. The only authority is the identity provider: a tenant's own
 * verified token saying `partner_id`. The directory records that, so a partner admin may act on the
 * tenants of their partner (and on no other).
 */
export interface TenantDirectory {
  learn(principal: Principal): Promise<void>;
  partnerOf(tenantId: string): Promise<string | undefined>;
}

/** Creates the directory over the tenant_partners table, with an in-process cache. */
export function createTenantDirectory(db: Db, clock: Clock, maxEntries = 10_000): TenantDirectory {
  // Bounded: one entry per tenant seen, and a replica may see very many.
  const known = new BoundedMap<string, string>(maxEntries);
  return {
    async learn(principal) {
      if (!principal.partnerId || known.get(principal.tenantId) === principal.partnerId) return;
      await db
        .insertInto("tenant_partners")
        .values({ tenant_id: principal.tenantId, partner_id: principal.partnerId, seen_at: clock.now() })
        .onConflict((oc) => oc.column("tenant_id").doUpdateSet({ partner_id: principal.partnerId!, seen_at: clock.now() }))
        .execute();
      known.set(principal.tenantId, principal.partnerId);
    },
    async partnerOf(tenantId) {
      const cached = known.get(tenantId);
      if (cached) return cached;
      const row = await db.selectFrom("tenant_partners").select("partner_id").where("tenant_id", "=", tenantId).executeTakeFirst();
      if (row) known.set(tenantId, row.partner_id);
      return row?.partner_id;
    },
  };
}

import { BoundedMap } from "../bounded-map.js";
import type { Db } from "../db/database.js";
import { partnerOfTenant } from "../tenants/tenants-store.js";

/** The channel the registry's trigger notifies with a tenant id whenever that tenant's registration changes. */
export const tenantChangeChannel = "scaivault_tenant_changed";

/**
 * Which partner a tenant belongs to, as the tenant registry says (operators manage it; tokens never
 * change it). Answers are cached per replica and dropped on the registry's NOTIFY, so every replica
 * honours a change as soon as the notice arrives; `clear` runs when notices may have been missed,
 * and while they are not known to arrive (`coherent` false) every lookup reads the registry.
 */
export interface TenantDirectory {
  partnerOf(tenantId: string): Promise<string | undefined>;
  /** Drops one tenant's cached answer (its registration changed). */
  forget(tenantId: string): void;
  /** Drops every cached answer. */
  clear(): void;
}

/** Creates the directory over the registry, caching up to `maxEntries` answers (unregistered included), least recently used dropped first. */
export function createTenantDirectory(db: Db, maxEntries = 10_000, coherent: () => boolean = () => true): TenantDirectory {
  const known = new BoundedMap<string, string | null>(maxEntries);
  // A lookup that started before a change must not cache what it read: each change bumps the generation.
  let generation = 0;
  return {
    async partnerOf(tenantId) {
      const trusted = coherent();
      const cached = trusted ? known.get(tenantId) : undefined;
      if (cached !== undefined) return cached ?? undefined;
      const started = generation;
      const partner = await partnerOfTenant(db, tenantId);
      if (trusted && started === generation && coherent()) known.set(tenantId, partner ?? null);
      return partner;
    },
    forget(tenantId) {
      generation++;
      known.delete(tenantId);
    },
    clear() {
      generation++;
      known.clear();
    },
  };
}

import type { JsonObject } from "@bufbuild/protobuf";
import { auditAllowed } from "../audit/call-audit.js";
import type { Clock } from "../clock.js";
import type { Db } from "../db/database.js";
import { ScaiVaultError } from "../errors.js";
import type { VaultMount } from "./vault-mounts.js";
import type { VaultOperation } from "./vault-operation.js";
import { vaultData, vaultPlain } from "./vault-response.js";

export interface VaultSysDeps {
  mounts: readonly VaultMount[];
  db: Db;
  clock: Clock;
  /** Whether this replica can serve (the database answers, it is not draining). */
  ready: () => Promise<boolean>;
  /** The Vault API version answered (Vault's numbering, so clients enable KV v2 features), with ScaiVault's own as build metadata. */
  version: string;
}

/** A mount's description, as `sys/mounts` and `sys/internal/ui/mounts` give it. */
function mountView(mount: VaultMount): JsonObject {
  return {
    type: "kv",
    description: mount.prefix ? `ScaiVault secrets under ${mount.prefix}` : "ScaiVault secrets",
    accessor: `kv_scaivault_${mount.name}`,
    uuid: "",
    config: { default_lease_ttl: 0, max_lease_ttl: 0, force_no_cache: false },
    options: { version: "2" },
    local: false,
    seal_wrap: false,
    external_entropy_access: false,
    plugin_version: "",
    running_plugin_version: "",
  };
}

/** `sys/health`, `sys/seal-status`, the mounts and the token's own lookup: what clients ask before reading a secret. */
export function sysOperations(deps: VaultSysDeps) {
  const health: VaultOperation = {
    action: "vault.sys.health",
    need: "public",
    // Vault's own health parameters (load balancers and probes send them); the answer is the same here.
    query: ["standbyok", "perfstandbyok", "activecode", "standbycode", "drsecondarycode", "haunhealthycode", "performancestandbycode", "removedcode", "sealedcode", "uninitcode"],
    run: async () => {
      const ready = await deps.ready().catch(() => false);
      const now = deps.clock.now();
      // Vault's health status codes: 200 serving, 503 sealed; a replica that cannot reach its database cannot serve.
      return vaultPlain(ready ? 200 : 503, {
        initialized: true,
        sealed: !ready,
        standby: false,
        performance_standby: false,
        replication_performance_mode: "disabled",
        replication_dr_mode: "disabled",
        server_time_utc: Math.floor(now.getTime() / 1000),
        version: deps.version,
        cluster_name: "scaivault",
        cluster_id: "",
      });
    },
  };
  const sealStatus: VaultOperation = {
    action: "vault.sys.seal-status",
    need: "public",
    run: async () => {
      const ready = await deps.ready().catch(() => false);
      return vaultPlain(200, {
        type: "shamir",
        initialized: true,
        sealed: !ready,
        t: 1,
        n: 1,
        progress: 0,
        nonce: "",
        version: deps.version,
        build_date: "",
        migration: false,
        cluster_name: "scaivault",
        cluster_id: "",
        recovery_seal: false,
        storage_type: "scaivault",
      });
    },
  };
  const mounts: VaultOperation = {
    action: "vault.sys.mounts",
    need: "token",
    run: async (r) => {
      const data: JsonObject = {};
      for (const m of deps.mounts) data[`${m.name}/`] = mountView(m);
      await auditAllowed(deps.db, deps.clock, r.call);
      // Vault repeats the mounts at the top level for clients of its older API.
      return vaultData(r.requestId, data, data);
    },
  };
  const uiMount: VaultOperation = {
    action: "vault.sys.internal.ui.mounts",
    need: "token",
    run: async (r) => {
      const name = r.path.split("/")[0]!;
      const mount = deps.mounts.find((m) => m.name === name);
      if (!mount) throw new ScaiVaultError("access_denied", "no such mount");
      await auditAllowed(deps.db, deps.clock, r.call);
      return vaultData(r.requestId, { ...mountView(mount), path: `${mount.name}/` });
    },
  };
  const lookupSelf: VaultOperation = {
    action: "vault.auth.token.lookup-self",
    need: "token",
    run: async (r) => {
      const { principal } = r.call;
      const now = deps.clock.now();
      const expires = principal.expiresAt;
      const issued = principal.issuedAt;
      await auditAllowed(deps.db, deps.clock, r.call);
      return vaultData(r.requestId, {
        accessor: "",
        creation_time: issued ? Math.floor(issued.getTime() / 1000) : 0,
        creation_ttl: issued && expires ? Math.round((expires.getTime() - issued.getTime()) / 1000) : 0,
        display_name: `token-${principal.subject}`,
        entity_id: "",
        expire_time: expires ? expires.toISOString() : null,
        explicit_max_ttl: 0,
        id: "",
        issue_time: issued ? issued.toISOString() : null,
        meta: { tenant_id: r.call.tenantId, ...(principal.partnerId ? { partner_id: principal.partnerId } : {}) },
        num_uses: 0,
        orphan: true,
        path: "",
        policies: [...principal.scopes].sort(),
        renewable: false,
        ttl: expires ? Math.max(0, Math.floor((expires.getTime() - now.getTime()) / 1000)) : 0,
        type: "service",
      });
    },
  };
  const renewSelf: VaultOperation = {
    action: "vault.auth.token.renew-self",
    need: "token",
    run: async () => {
      throw new ScaiVaultError("invalid_request", "token is not renewable: ScaiVault tokens come from their issuer; get a new one there before this one expires");
    },
  };
  return { health, sealStatus, mounts, uiMount, lookupSelf, renewSelf };
}

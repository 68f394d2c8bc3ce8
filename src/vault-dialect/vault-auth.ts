import type { UniversalServerRequest } from "@connectrpc/connect/protocol";
import { appendAuditEntries } from "../audit/audit-store.js";
import { auditEntryOf } from "../audit/call-audit.js";
import { authorizeCrossTenant } from "../auth/auth-interceptor.js";
import { clientAddressKey, clientRequestIdKey, hasScope, requestIdKey, type CallContext, type Principal } from "../auth/principal.js";
import type { TenantDirectory } from "../auth/tenant-directory.js";
import type { TokenVerifier } from "../auth/token-verifier.js";
import type { Clock } from "../clock.js";
import type { Db } from "../db/database.js";
import { ScaiVaultError } from "../errors.js";
import type { Logger } from "../log.js";

export interface VaultAuthDeps {
  verifier: TokenVerifier;
  directory: TenantDirectory;
  db: Db;
  clock: Clock;
  logger: Logger;
}

/** What an operation needs of its caller: a valid token only, or a scope as well. */
export type Requirement = { scope: string } | "token";

const anonymous: Principal = { subject: "anonymous", tenantId: "", scopes: new Set(), partnerAdmin: false };

/** The call as the native API's interceptor would build it, before the token is read. */
export function newCall(req: UniversalServerRequest, action: string): CallContext {
  const values = req.contextValues!;
  return {
    principal: anonymous,
    tenantId: "",
    requestId: values.get(requestIdKey),
    clientRequestId: values.get(clientRequestIdKey),
    clientAddress: values.get(clientAddressKey),
    action,
  };
}

/** The token a Vault client sends: `X-Vault-Token`, or `Authorization: Bearer` as newer clients may. */
function tokenOf(header: Headers): string | undefined {
  const vaultToken = header.get("x-vault-token")?.trim();
  if (vaultToken) return vaultToken;
  const match = /^Bearer\s+(\S+)$/i.exec(header.get("authorization") ?? "");
  return match?.[1];
}

/**
 * Authenticates a Vault-dialect call exactly as the native API does: the same tokens, scopes and
 * tenants. `X-Vault-Namespace` names the tenant a partner admin acts for (Vault's namespaces, with
 * or without their trailing slash), decided by the tenant registry as for `/v1/t/{tenant}/`.
 */
export async function authenticate(deps: VaultAuthDeps, req: UniversalServerRequest, call: CallContext, need: Requirement): Promise<void> {
  const token = tokenOf(req.header);
  if (!token) throw new ScaiVaultError("unauthenticated", "missing token");
  call.principal = await deps.verifier.verify(token);
  call.tenantId = call.principal.tenantId;
  const namespace = req.header.get("x-vault-namespace")?.trim().replace(/\/+$/, "");
  if (namespace && namespace !== call.principal.tenantId) {
    call.tenantId = namespace;
    await authorizeCrossTenant(call.principal, namespace, deps.directory);
  }
  if (need !== "token" && !hasScope(call.principal, need.scope)) throw new ScaiVaultError("access_denied", `requires scope ${need.scope}`);
}

/** Audits a call that failed (as the native API does: a successful call was audited by its service). */
export async function auditFailure(deps: VaultAuthDeps, call: CallContext, outcome: string, path: string | undefined): Promise<void> {
  try {
    await appendAuditEntries(deps.db, [auditEntryOf(call, deps.clock.now(), outcome, { path: path && path.length <= 512 ? path : undefined })]);
  } catch (err) {
    deps.logger.error("audit write failed", { requestId: call.requestId, err });
  }
}

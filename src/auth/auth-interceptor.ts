import { getOption, hasOption, type DescMethod } from "@bufbuild/protobuf";
import type { Interceptor } from "@connectrpc/connect";
import { access, type AccessRule } from "../../gen/scaivault/v1/options_pb.js";
import { appendAuditEntries } from "../audit/audit-store.js";
import { contractErrorOfDatabase } from "../db/database-errors.js";
import { auditEntryOf } from "../audit/call-audit.js";
import type { Clock } from "../clock.js";
import type { Db } from "../db/database.js";
import { errorCodeOf, ScaiVaultError } from "../errors.js";
import type { Logger } from "../log.js";
import { targetTenantHeader } from "../transport/http-headers.js";
import {
  callContextKey,
  clientAddressKey,
  clientRequestIdKey,
  hasScope,
  requestIdKey,
  type CallContext,
  type Principal,
} from "./principal.js";
import type { TenantDirectory } from "./tenant-directory.js";
import type { TokenVerifier } from "./token-verifier.js";

export interface AuthInterceptorDeps {
  verifier: TokenVerifier;
  directory: TenantDirectory;
  db: Db;
  clock: Clock;
  logger: Logger;
}

/**
 * The one place that authenticates, authorises and audits every call, for all four protocols:
 * reads the method's `(scaivault.v1.access)` rule, verifies the bearer token, resolves the target
 * tenant, and audits every failed call (successful ones are audited by the service, inside the
 * transaction of the change). Methods without a rule (health, reflection) are public; errors are
 * turned into the contract's by the transport's outermost interceptor.
 */
export function createAuthInterceptor(deps: AuthInterceptorDeps): Interceptor {
  const { verifier, directory, db, clock, logger } = deps;

  async function auditFailure(call: CallContext, outcome: string, path: string | undefined) {
    // A call that failed because the database does not answer must not wait as long again for
    // its audit entry: it is written when the database can take it, while the client has its 503.
    if (outcome === "unavailable") {
      void writeFailure(call, outcome, path);
      return;
    }
    await writeFailure(call, outcome, path);
  }

  async function writeFailure(call: CallContext, outcome: string, path: string | undefined) {
    try {
      await appendAuditEntries(db, [auditEntryOf(call, clock.now(), outcome, { path })]);
    } catch (err) {
      logger.error("audit write failed", { requestId: call.requestId, err });
    }
  }

  /** Each method's rule, read once: reading a proto option decodes it every time. */
  const rules = new Map<DescMethod, AccessRule | null>();
  const ruleOf = (method: DescMethod) => {
    let rule = rules.get(method);
    if (rule === undefined) rules.set(method, (rule = hasOption(method, access) ? getOption(method, access) : null));
    return rule;
  };

  return (next) => async (req) => {
    const rule = ruleOf(req.method);
    if (rule === null) return next(req);
    const path = targetPathOf(req);
    const requestId = req.contextValues.get(requestIdKey);
    const clientAddress = req.contextValues.get(clientAddressKey);
    const anonymous: Principal = { subject: "anonymous", tenantId: "", scopes: new Set(), partnerAdmin: false };
    const call: CallContext = {
      principal: anonymous,
      tenantId: "",
      requestId,
      clientRequestId: req.contextValues.get(clientRequestIdKey),
      clientAddress,
      action: req.method.name,
    };
    try {
      const authorization = req.header.get("authorization") ?? "";
      const match = /^Bearer\s+(\S+)$/i.exec(authorization);
      if (!match) throw new ScaiVaultError("unauthenticated", "missing bearer token");
      call.principal = await verifier.verify(match[1]!);
      call.tenantId = call.principal.tenantId;

      const target = req.header.get(targetTenantHeader);
      if (target && target !== call.principal.tenantId) {
        call.tenantId = target;
        await authorizeCrossTenant(call.principal, target, directory);
      }
      if (rule.partnerAdmin && !call.principal.partnerAdmin) {
        throw new ScaiVaultError("access_denied", "only partner admins may do this");
      }
      if (rule.anyScope.length > 0 && !rule.anyScope.some((s) => hasScope(call.principal, s))) {
        throw new ScaiVaultError("access_denied", `requires scope ${rule.anyScope.join(" or ")}`);
      }
    } catch (err) {
      await auditFailure(call, outcomeOf(err), path);
      throw err;
    }

    req.contextValues.set(callContextKey, call);
    try {
      return await next(req);
    } catch (err) {
      await auditFailure(call, outcomeOf(err), path);
      throw err;
    }
  };
}

/** The contract code a failed call answers with; a database error is already known as one here. */
function outcomeOf(err: unknown): string {
  return contractErrorOfDatabase(err)?.code ?? errorCodeOf(err);
}

/** The secret path a unary request names (`path` or `secret_path`), for audit entries of failed calls. */
function targetPathOf(req: { stream: boolean; message?: unknown }): string | undefined {
  if (req.stream) return undefined;
  const m = req.message as { path?: unknown; secretPath?: unknown } | undefined;
  const p = m?.path ?? m?.secretPath;
  return typeof p === "string" && p.length <= 512 ? p : undefined;
}

/** Lets a partner admin act for a tenant of the same partner, as the registry says; throws `access_denied` otherwise. */
export async function authorizeCrossTenant(principal: Principal, target: string, directory: TenantDirectory) {
  if (!/^[A-Za-z0-9._-]{1,128}$/.test(target)) throw new ScaiVaultError("access_denied", "no access to that tenant");
  if (!principal.partnerAdmin) throw new ScaiVaultError("access_denied", "only partner admins may act for another tenant");
  const partner = await directory.partnerOf(target);
  if (partner !== principal.partnerId) throw new ScaiVaultError("access_denied", "no access to that tenant");
}

import { createContextKey } from "@connectrpc/connect";

/** Scopes a token may carry. `admin` holds every tenant scope. */
export const tenantScopes = ["secrets:read", "secrets:write", "secrets:delete", "secrets:rotate", "audit:read"] as const;

/** Who is calling, as read from a verified token. */
export interface Principal {
  /** The actor (`sub`). */
  subject: string;
  /** The tenant the token belongs to. */
  tenantId: string;
  scopes: ReadonlySet<string>;
  partnerId?: string;
  partnerAdmin: boolean;
  /** Token expiry, for caches. */
  expiresAt?: Date;
}

/** The principal plus the tenant it acts on (different only for partner admins on `/v1/t/{tenant}/`). */
export interface CallContext {
  principal: Principal;
  /** The tenant whose data the call reads or writes. */
  tenantId: string;
  requestId: string;
  clientAddress?: string;
  /** The audited action: the RPC method name (`GetSecret`). */
  action: string;
  /** Set once the service has written this call's audit entry in its own transaction. */
  audited: boolean;
}

/** Context key carrying the authenticated call context; set by the auth interceptor. */
export const callContextKey = createContextKey<CallContext | undefined>(undefined, { description: "scaivault call" });

/** Context key carrying the request id; set by the transport before interceptors run. */
export const requestIdKey = createContextKey<string>("", { description: "scaivault request id" });

/** Context key carrying the client address; set by the transport. */
export const clientAddressKey = createContextKey<string | undefined>(undefined, { description: "client address" });

/** Request header naming the target tenant of a cross-tenant call (REST: `/v1/t/{tenant_id}/...`). */
export const targetTenantHeader = "x-scaivault-tenant";
/** Request and response header carrying the request id. */
export const requestIdHeader = "x-request-id";
/** Response header a handler sets to choose the REST status (e.g. 201); stripped before it reaches clients. */
export const httpCodeHeader = "x-http-code";

/** True when the principal holds the scope, directly or through `admin`. */
export function hasScope(principal: Principal, scope: string): boolean {
  if (principal.scopes.has(scope)) return true;
  return principal.scopes.has("admin") && (tenantScopes as readonly string[]).includes(scope);
}

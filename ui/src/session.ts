import { createScaiVaultClient, type ScaiVaultClient } from "./api.js";

// The signed-in session lives in sessionStorage only (gone when the tab closes), never in
// localStorage or in a URL. The token's payload is decoded here for display only: the service
// verifies the signature on every call.

const tokenKey = "scaivault.token";
const tenantKey = "scaivault.tenant";

/** What the console shows about the token's holder (read from the JWT payload, unverified). */
export interface Identity {
  subject: string;
  tenantId: string;
  partnerId?: string;
  partnerAdmin: boolean;
  scopes: string[];
  expiresAt?: Date;
}

export interface Session {
  token: string;
  identity: Identity;
  /** The tenant a partner admin acts on (sent as `x-scaivault-tenant`), if not their own. */
  targetTenant?: string;
  client: ScaiVaultClient;
  /**
   * The same client over gRPC-web, for look-ups where "not found" is an ordinary answer (does this
   * secret have a provider rotation?). gRPC-web carries the status in the body of an HTTP 200, so
   * the browser does not log an expected absence as a failed request, as it does Connect's 404.
   */
  lookups: ScaiVaultClient;
}

/** Decodes a JWT's payload (base64url JSON) without verifying it; throws on anything that is not a JWT. */
export function decodeIdentity(token: string): Identity {
  const parts = token.split(".");
  if (parts.length !== 3) throw new Error("This is not a JWT: it should have three dot-separated parts.");
  let payload: Record<string, unknown>;
  try {
    const b64 = parts[1]!.replace(/-/g, "+").replace(/_/g, "/");
    const bytes = Uint8Array.from(atob(b64 + "=".repeat((4 - (b64.length % 4)) % 4)), (c) => c.charCodeAt(0));
    payload = JSON.parse(new TextDecoder().decode(bytes)) as Record<string, unknown>;
  } catch {
    throw new Error("The token's payload could not be read as JSON.");
  }
  const scope = typeof payload.scope === "string" ? payload.scope : "";
  const roles = Array.isArray(payload.roles) ? payload.roles : [];
  return {
    subject: typeof payload.sub === "string" ? payload.sub : "(no subject)",
    tenantId: typeof payload.tenant_id === "string" ? payload.tenant_id : "(no tenant)",
    partnerId: typeof payload.partner_id === "string" ? payload.partner_id : undefined,
    partnerAdmin: roles.includes("partner_admin"),
    scopes: scope.split(" ").filter(Boolean),
    expiresAt: typeof payload.exp === "number" ? new Date(payload.exp * 1000) : undefined,
  };
}

/** Whether the token's `exp` has passed. */
export function isExpired(identity: Identity, now = new Date()): boolean {
  return identity.expiresAt !== undefined && identity.expiresAt.getTime() <= now.getTime();
}

/** The service's root URL as seen from `/ui` (so a proxy prefix in front of the service is kept). */
function serviceBaseUrl(): string {
  return new URL(".", location.href).href.replace(/\/$/, "");
}

/** Builds a session for a token (and an optional target tenant); does not store it. */
export function openSession(token: string, targetTenant?: string): Session {
  const identity = decodeIdentity(token);
  const options = { baseUrl: serviceBaseUrl(), token, tenant: targetTenant || undefined, retries: 1 };
  const client = createScaiVaultClient(options);
  const lookups = createScaiVaultClient({ ...options, protocol: "grpc-web" });
  return { token, identity, targetTenant: targetTenant || undefined, client, lookups };
}

/** The session kept in this tab, if any. */
export function restoreSession(): Session | undefined {
  const token = sessionStorage.getItem(tokenKey);
  if (!token) return undefined;
  try {
    return openSession(token, sessionStorage.getItem(tenantKey) ?? undefined);
  } catch {
    forgetSession();
    return undefined;
  }
}

export function saveSession(session: Session): void {
  sessionStorage.setItem(tokenKey, session.token);
  if (session.targetTenant) sessionStorage.setItem(tenantKey, session.targetTenant);
  else sessionStorage.removeItem(tenantKey);
}

export function forgetSession(): void {
  sessionStorage.removeItem(tokenKey);
  sessionStorage.removeItem(tenantKey);
}

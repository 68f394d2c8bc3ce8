import { SignJWT } from "jose";

/** What a development token says. */
export interface TokenClaims {
  sub?: string;
  tenantId: string;
  scopes: string[];
  partnerId?: string;
  partnerAdmin?: boolean;
  ttlSeconds?: number;
  issuer?: string;
  audience?: string;
}

/** Mints an HS256 token with the contract's claims (development and tests). */
export async function mintToken(secret: string, claims: TokenClaims, now = new Date()): Promise<string> {
  const iat = Math.floor(now.getTime() / 1000);
  const jwt = new SignJWT({
    tenant_id: claims.tenantId,
    scope: claims.scopes.join(" "),
    ...(claims.partnerId ? { partner_id: claims.partnerId } : {}),
    ...(claims.partnerAdmin ? { roles: ["partner_admin"] } : {}),
  })
    .setProtectedHeader({ alg: "HS256", typ: "JWT" })
    .setSubject(claims.sub ?? "dev")
    .setIssuedAt(iat)
    .setExpirationTime(iat + (claims.ttlSeconds ?? 3600));
  if (claims.issuer) jwt.setIssuer(claims.issuer);
  if (claims.audience) jwt.setAudience(claims.audience);
  return jwt.sign(new TextEncoder().encode(secret));
}

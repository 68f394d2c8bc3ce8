import { createPublicKey, type KeyObject } from "node:crypto";
import { createRemoteJWKSet, errors as joseErrors, jwtVerify, type JWTPayload, type JWTVerifyGetKey } from "jose";
import { BoundedMap } from "../bounded-map.js";
import type { Clock } from "../clock.js";
import { ScaiVaultError } from "../errors.js";
import type { Principal } from "./principal.js";

/** Where verification keys come from; exactly one is used, in this order. */
export interface TokenKeySource {
  jwksUrl?: string;
  /** PEM (SPKI) or a JWK as JSON. */
  publicKey?: string;
  /** HS256 shared secret (development). */
  secret?: string;
}

export interface TokenVerifierOptions {
  keys: TokenKeySource;
  /** How many verified tokens to remember until they expire (0 disables the cache). */
  cacheSize?: number;
  issuer?: string;
  audience?: string;
  clockSkewSeconds: number;
  clock: Clock;
}

/** Verifies bearer tokens into principals. */
export interface TokenVerifier {
  verify(token: string): Promise<Principal>;
}

const MAX_TOKEN_LENGTH = 8192;
const asymmetricAlgorithms = {
  rsa: ["RS256", "RS384", "RS512", "PS256", "PS384", "PS512"],
  "rsa-pss": ["PS256", "PS384", "PS512"],
  ec: ["ES256", "ES384", "ES512"],
  ed25519: ["EdDSA", "Ed25519"],
} as Record<string, string[]>;

/** Creates the verifier: algorithm allow-list by key type, `exp` required, `iss`/`aud` when configured. */
export async function createTokenVerifier(options: TokenVerifierOptions): Promise<TokenVerifier> {
  const { key, algorithms } = await resolveKey(options.keys);
  // A token that verified once stays valid until its expiry: remembering it saves the signature
  // check on every call of a busy client. Keyed by the whole token, so nothing else can hit it.
  const cacheSize = options.cacheSize ?? 10_000;
  const verified = new BoundedMap<string, Principal>(cacheSize);
  return {
    async verify(token) {
      if (!token || token.length > MAX_TOKEN_LENGTH) throw unauthenticated("malformed token");
      const known = verified.get(token);
      if (known) {
        if (known.expiresAt && known.expiresAt.getTime() + options.clockSkewSeconds * 1000 > options.clock.now().getTime()) return known;
        verified.delete(token);
      }
      let payload: JWTPayload;
      try {
        ({ payload } = await jwtVerify(token, key as JWTVerifyGetKey, {
          algorithms,
          requiredClaims: ["exp"],
          issuer: options.issuer,
          audience: options.audience,
          clockTolerance: options.clockSkewSeconds,
          currentDate: options.clock.now(),
        }));
      } catch (err) {
        throw unauthenticated(describeJoseError(err), err);
      }
      // jose checks iat only against a maximum age; a token minted in the future is forged or from a broken clock.
      if (typeof payload.iat === "number" && payload.iat * 1000 > options.clock.now().getTime() + options.clockSkewSeconds * 1000) {
        throw unauthenticated("token claim iat is in the future");
      }
      const principal = principalFromClaims(payload);
      verified.set(token, principal);
      return principal;
    },
  };
}

async function resolveKey(keys: TokenKeySource): Promise<{ key: unknown; algorithms: string[] }> {
  if (keys.jwksUrl) {
    return {
      key: createRemoteJWKSet(new URL(keys.jwksUrl)),
      algorithms: [...new Set(Object.values(asymmetricAlgorithms).flat())],
    };
  }
  if (keys.publicKey) {
    const text = keys.publicKey.trim();
    let keyObject: KeyObject;
    if (text.startsWith("{")) {
      // Node reads the JWK itself, so both forms end as a KeyObject whose type picks the algorithms.
      keyObject = createPublicKey({ key: JSON.parse(text), format: "jwk" });
    } else {
      keyObject = createPublicKey(text);
    }
    if (keyObject.type !== "public") throw new Error("SCAIVAULT_JWT_PUBLIC_KEY must be a public key");
    const algorithms = asymmetricAlgorithms[keyObject.asymmetricKeyType ?? ""];
    if (!algorithms) throw new Error(`unsupported public key type ${keyObject.asymmetricKeyType}`);
    return { key: keyObject, algorithms };
  }
  if (keys.secret) {
    if (Buffer.byteLength(keys.secret) < 32) throw new Error("SCAIVAULT_JWT_SECRET must be at least 32 bytes");
    return { key: new TextEncoder().encode(keys.secret), algorithms: ["HS256"] };
  }
  throw new Error("no token verification key configured");
}

/** Control characters (C0, DEL, C1) and unpaired surrogates: never part of an identifier we store. */
const unstorable = /[\u0000-\u001f\u007f-\u009f]|[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/;
const MAX_SUBJECT_LENGTH = 256;

/**
 * Reads the contract's claims (`sub`, `tenant_id`, `scope`/`scp`, `partner_id`, `roles`) into a principal.
 * The claims that become stored text (actor, tenants, partner) are checked here, at verification, so a
 * token that verifies can never carry a value the audit log refuses (one bad entry would fail a whole
 * group commit of other tenants' reads).
 */
export function principalFromClaims(claims: JWTPayload): Principal {
  if (claims.sub !== undefined && (typeof claims.sub !== "string" || claims.sub.length > MAX_SUBJECT_LENGTH || unstorable.test(claims.sub))) {
    throw unauthenticated("token has an invalid sub claim");
  }
  const tenantId = claims["tenant_id"];
  if (typeof tenantId !== "string" || !/^[A-Za-z0-9._-]{1,128}$/.test(tenantId)) {
    throw unauthenticated("token has no valid tenant_id claim");
  }
  const scopes = new Set<string>();
  const scope = claims["scope"];
  if (typeof scope === "string") scope.split(" ").filter(Boolean).forEach((s) => scopes.add(s));
  const scp = claims["scp"];
  if (Array.isArray(scp)) scp.filter((s): s is string => typeof s === "string").forEach((s) => scopes.add(s));
  const partnerId = claims["partner_id"];
  if (partnerId !== undefined && (typeof partnerId !== "string" || !/^[A-Za-z0-9._-]{1,128}$/.test(partnerId))) {
    throw unauthenticated("token has an invalid partner_id claim");
  }
  const roles = Array.isArray(claims["roles"]) ? (claims["roles"] as unknown[]) : [];
  return {
    subject: typeof claims.sub === "string" && claims.sub ? claims.sub : "unknown",
    tenantId,
    scopes,
    partnerId: partnerId as string | undefined,
    partnerAdmin: partnerId !== undefined && roles.includes("partner_admin"),
    expiresAt: claims.exp ? new Date(claims.exp * 1000) : undefined,
    issuedAt: typeof claims.iat === "number" ? new Date(claims.iat * 1000) : undefined,
  };
}

function describeJoseError(err: unknown): string {
  if (err instanceof joseErrors.JWTExpired) return "token expired";
  if (err instanceof joseErrors.JWTClaimValidationFailed) return `token claim ${err.claim} is invalid`;
  if (err instanceof joseErrors.JOSEAlgNotAllowed) return "token algorithm not allowed";
  if (err instanceof joseErrors.JWSSignatureVerificationFailed) return "token signature invalid";
  if (err instanceof joseErrors.JWKSNoMatchingKey) return "no key matches the token";
  return "invalid token";
}

function unauthenticated(message: string, cause?: unknown): ScaiVaultError {
  return new ScaiVaultError("unauthenticated", message, { cause });
}

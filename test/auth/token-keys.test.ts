import { generateKeyPairSync } from "node:crypto";
import { createServer, type Server } from "node:http";
import { SignJWT, exportJWK } from "jose";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createTokenVerifier } from "../../src/auth/token-verifier.js";
import { createManualClock } from "../../src/clock.js";

const clock = createManualClock("2026-05-01T00:00:00Z");
const now = () => Math.floor(clock.now().getTime() / 1000);
const claims = () => ({ tenant_id: "t1", scope: "secrets:read", sub: "svc", exp: now() + 600 });

describe("token keys: public key, JWK, JWKS URL, and algorithm confusion", () => {
  const rsa = generateKeyPairSync("rsa", { modulusLength: 2048 });
  const ec = generateKeyPairSync("ec", { namedCurve: "P-256" });
  const pem = rsa.publicKey.export({ type: "spki", format: "pem" }).toString();
  let jwks: Server;
  let jwksUrl = "";
  beforeAll(async () => {
    const jwk = { ...(await exportJWK(ec.publicKey)), kid: "k1", alg: "ES256", use: "sig" };
    jwks = createServer((_req, res) => res.writeHead(200, { "content-type": "application/json" }).end(JSON.stringify({ keys: [jwk] })));
    await new Promise<void>((resolve) => jwks.listen(0, "127.0.0.1", resolve));
    jwksUrl = `http://127.0.0.1:${(jwks.address() as { port: number }).port}/.well-known/jwks.json`;
  });
  afterAll(() => new Promise<void>((resolve) => jwks.close(() => resolve())));

  it("verifies RS256 tokens against a PEM public key and refuses HS256 signed with that PEM", async () => {
    const verifier = await createTokenVerifier({ keys: { publicKey: pem }, clockSkewSeconds: 30, clock });
    const good = await new SignJWT(claims()).setProtectedHeader({ alg: "RS256" }).sign(rsa.privateKey);
    expect((await verifier.verify(good)).tenantId).toBe("t1");
    const confused = await new SignJWT(claims()).setProtectedHeader({ alg: "HS256" }).sign(new TextEncoder().encode(pem));
    await expect(verifier.verify(confused)).rejects.toMatchObject({ code: "unauthenticated" });
    const otherKey = generateKeyPairSync("rsa", { modulusLength: 2048 });
    const forged = await new SignJWT(claims()).setProtectedHeader({ alg: "RS256" }).sign(otherKey.privateKey);
    await expect(verifier.verify(forged)).rejects.toMatchObject({ code: "unauthenticated" });
  });

  it("verifies against a JWK given inline", async () => {
    const jwk = JSON.stringify({ ...(await exportJWK(ec.publicKey)), alg: "ES256" });
    const verifier = await createTokenVerifier({ keys: { publicKey: jwk }, clockSkewSeconds: 30, clock });
    const token = await new SignJWT(claims()).setProtectedHeader({ alg: "ES256" }).sign(ec.privateKey);
    expect((await verifier.verify(token)).subject).toBe("svc");
  });

  it("fetches keys from a JWKS URL and checks iss and aud when configured", async () => {
    const verifier = await createTokenVerifier({ keys: { jwksUrl }, issuer: "https://idp.example", audience: "scaivault", clockSkewSeconds: 30, clock });
    const sign = (c: Record<string, unknown>) => new SignJWT(c).setProtectedHeader({ alg: "ES256", kid: "k1" }).sign(ec.privateKey);
    const good = await sign({ ...claims(), iss: "https://idp.example", aud: "scaivault" });
    expect((await verifier.verify(good)).tenantId).toBe("t1");
    await expect(verifier.verify(await sign({ ...claims(), iss: "https://evil.example", aud: "scaivault" }))).rejects.toMatchObject({ code: "unauthenticated" });
    await expect(verifier.verify(await sign({ ...claims(), iss: "https://idp.example", aud: "other" }))).rejects.toMatchObject({ code: "unauthenticated" });
  });

  it("remembers a verified token only until it expires (injected clock)", async () => {
    const verifier = await createTokenVerifier({ keys: { publicKey: pem }, clockSkewSeconds: 30, clock });
    const token = await new SignJWT({ ...claims(), exp: now() + 60 }).setProtectedHeader({ alg: "RS256" }).sign(rsa.privateKey);
    expect((await verifier.verify(token)).tenantId).toBe("t1");
    clock.advance(60_000 + 31_000);
    await expect(verifier.verify(token)).rejects.toMatchObject({ code: "unauthenticated" });
  });
});

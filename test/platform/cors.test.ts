import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startTestVault, type TestVault } from "../support/vault.js";

describe("CORS for browser apps on configured origins", () => {
  let tv: TestVault;
  let token: string;
  const app = "http://app.example.test";
  beforeAll(async () => {
    tv = await startTestVault({ env: { SCAIVAULT_CORS_ORIGINS: `${app},http://other.example.test` } });
    token = await tv.token({ tenantId: "cors" });
    await tv.rest("PUT", "/v1/secrets/c/x", { token, body: { data: { v: 1 } } });
  });
  afterAll(async () => tv?.close());

  it("answers preflights of allowed origins for Connect, gRPC-web and REST", async () => {
    for (const [path, method, headers] of [
      ["/scaivault.v1.SecretsService/GetSecret", "POST", "content-type,authorization,connect-protocol-version"],
      ["/scaivault.v1.SecretsService/GetSecret", "POST", "content-type,authorization,x-grpc-web,x-user-agent"],
      ["/v1/secrets/c/x", "PUT", "content-type,authorization,x-scaivault-tenant"],
    ]) {
      const res = await fetch(tv.baseUrl + path, {
        method: "OPTIONS",
        headers: { origin: app, "access-control-request-method": method!, "access-control-request-headers": headers! },
      });
      expect(res.status, path).toBe(204);
      expect(res.headers.get("access-control-allow-origin")).toBe(app);
      const allowed = res.headers.get("access-control-allow-headers")!.toLowerCase();
      for (const h of headers!.split(",")) expect(allowed, h).toContain(h);
      expect(res.headers.get("access-control-allow-methods")).toContain(method);
    }
  });

  it("lets an allowed origin read answers and their request id, and tells others nothing", async () => {
    const ok = await fetch(`${tv.baseUrl}/v1/secrets/c/x`, { headers: { origin: app, authorization: `Bearer ${token}` } });
    expect(ok.status).toBe(200);
    expect(ok.headers.get("access-control-allow-origin")).toBe(app);
    expect(ok.headers.get("access-control-expose-headers")?.toLowerCase()).toContain("x-request-id");
    const stranger = await fetch(`${tv.baseUrl}/v1/secrets/c/x`, { headers: { origin: "http://evil.example.test", authorization: `Bearer ${token}` } });
    expect(stranger.headers.get("access-control-allow-origin")).toBeNull();
    const preflight = await fetch(`${tv.baseUrl}/v1/secrets/c/x`, {
      method: "OPTIONS",
      headers: { origin: "http://evil.example.test", "access-control-request-method": "GET" },
    });
    expect(preflight.headers.get("access-control-allow-origin")).toBeNull();
  });
});

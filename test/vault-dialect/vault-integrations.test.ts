import * as http from "node:http";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startTestVault, type TestVault } from "../support/vault.js";

/**
 * The requests External Secrets Operator's `vault` provider and `hashicorp/vault-action` send,
 * replayed over HTTP as those tools send them (there is no Kubernetes or GitHub runner here):
 * the Go client's headers and `?list=true`, on one kept-alive connection, and vault-action's
 * plain GETs. Plus fuzzed paths and bodies, which must answer 4xx, never 5xx.
 */
describe("External Secrets Operator, vault-action and fuzzed input against the Vault dialect", () => {
  let tv: TestVault;
  let token: string;
  const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
  beforeAll(async () => {
    tv = await startTestVault({ env: { SCAIVAULT_VAULT_MOUNTS: "secret=,kv=platform/" } });
    token = await tv.token({ tenantId: "acme", scopes: ["admin"], sub: "eso", ttlSeconds: 7200 });
  });
  afterAll(async () => {
    agent.destroy();
    await tv?.close();
  });

  /** A request as Go's vault/api client makes it: X-Vault-Token, X-Vault-Request, its user agent, a kept-alive connection. */
  function goClient(method: string, path: string, body?: unknown, extra: Record<string, string> = {}): Promise<{ status: number; body: any; headers: http.IncomingHttpHeaders }> {
    const payload = body === undefined ? undefined : JSON.stringify(body);
    return new Promise((resolve, reject) => {
      const req = http.request(
        {
          host: "127.0.0.1",
          port: tv.port,
          method,
          path,
          agent,
          headers: { "x-vault-token": token, "x-vault-request": "true", "user-agent": "Go-http-client/1.1", ...(payload ? { "content-type": "application/json" } : {}), ...extra },
        },
        (res) => {
          let text = "";
          res.on("data", (d: Buffer) => (text += d.toString()));
          res.on("end", () => resolve({ status: res.statusCode ?? 0, body: text ? JSON.parse(text) : undefined, headers: res.headers }));
        },
      );
      req.on("error", reject);
      req.end(payload);
    });
  }

  it("ESO ValidateStore: lookup-self has a numeric ttl over 60 s, an expire_time and a type; the mount is KV v2", async () => {
    const self = await goClient("GET", "/v1/auth/token/lookup-self");
    expect(self.status).toBe(200);
    expect(typeof self.body.data.ttl).toBe("number");
    expect(self.body.data.ttl).toBeGreaterThan(60);
    expect(self.body.data.type).toBe("service");
    expect(new Date(self.body.data.expire_time).getTime()).toBeGreaterThan(Date.now() + 60_000);
    const mount = await goClient("GET", "/v1/sys/internal/ui/mounts/kv");
    expect(mount.status).toBe(200);
    expect(mount.body.data).toMatchObject({ path: "kv/", type: "kv", options: { version: "2" } });
    const unknown = await goClient("GET", "/v1/sys/internal/ui/mounts/nope");
    expect(unknown.status).toBe(403);
  });

  it("ESO GetSecret with a version, its metadata with custom_metadata, and dataFrom.find's listing", async () => {
    const v1 = await goClient("PUT", "/v1/kv/data/apps/billing", { data: { DB_PASSWORD: "one" } });
    expect(v1.status).toBe(200);
    expect((await goClient("PUT", "/v1/kv/data/apps/billing", { data: { DB_PASSWORD: "two" }, options: { cas: 1 } })).status).toBe(200);
    expect((await goClient("POST", "/v1/kv/metadata/apps/billing", { custom_metadata: { team: "billing" } })).status).toBe(204);

    const byVersion = await goClient("GET", "/v1/kv/data/apps/billing?version=1");
    expect(byVersion.status).toBe(200);
    expect(byVersion.body.data.data).toEqual({ DB_PASSWORD: "one" });
    const latest = await goClient("GET", "/v1/kv/data/apps/billing");
    expect(latest.body.data.data.DB_PASSWORD).toBe("two");
    const meta = await goClient("GET", "/v1/kv/metadata/apps/billing");
    expect(meta.body.data.custom_metadata).toEqual({ team: "billing" });
    const list = await goClient("GET", "/v1/kv/metadata/apps?list=true");
    expect(list.body.data.keys).toEqual(["billing"]);
    // What ESO reads is the native secret under the mount's prefix.
    const native = await tv.rest("GET", "/v1/secrets/platform/apps/billing", { token });
    expect(native.body.data).toEqual({ DB_PASSWORD: "two" });
  });

  it("vault-action: plain GETs of secret/data/<path> with X-Vault-Token, a missing one a 404", async () => {
    expect((await tv.rest("PUT", "/v1/secrets/ci/deploy", { token, body: { data: { npm_token: "abc" } } })).status).toBe(201);
    const res = await fetch(`${tv.baseUrl}/v1/secret/data/ci/deploy`, { headers: { "X-Vault-Token": token } });
    expect(res.status).toBe(200);
    expect(res.headers.get("content-type")).toBe("application/json");
    expect(((await res.json()) as any).data.data.npm_token).toBe("abc");
    const missing = await fetch(`${tv.baseUrl}/v1/secret/data/ci/nothing`, { headers: { "X-Vault-Token": token } });
    expect(missing.status).toBe(404);
    expect(await missing.json()).toEqual({ errors: [] });
  });

  it("fuzzed paths, methods, query strings and bodies on the Vault routes answer 4xx, never 5xx (but 501 for a method HTTP does not know)", async () => {
    let seed = 7;
    const random = () => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31);
    const pick = <T>(xs: readonly T[]): T => xs[Math.floor(random() * xs.length)]!;
    const segments = ["a", "b/c", "%2e%2e", "..", "x%00y", "%ff", "data", "metadata", "__proto__", "constructor", "%C3%A9", "a%20b", "~", "", "very".repeat(60), "*"];
    const parts = ["data", "metadata", "delete", "undelete", "destroy", "subkeys", "config", "nope", "__proto__"];
    const methods = ["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS", "constructor", "LIST"];
    const bodies: (string | undefined)[] = [undefined, "", "{", "null", "[]", '"x"', "1e999", '{"data":null}', '{"data":[]}', '{"data":{"k":"v"},"options":{"cas":-1}}', '{"versions":["x"]}', '{"versions":[]}', '{"custom_metadata":{"k":1}}', '{"max_versions":"ten"}', '{"delete_version_after":"forever"}', '{"data":{"k":"v"},"options":"cas"}', '{"__proto__":{"data":{}}}', '{"cas_required":"yes"}'];
    const queries = ["", "?version=-1", "?version=1.5", "?version=99999999999", "?list=true", "?list=maybe", "?depth=x", "?version=%00"];
    const fivexx: string[] = [];
    for (let i = 0; i < 150; i++) {
      const mount = pick(["secret", "kv", "sys", "auth"]);
      const target = `/v1/${mount}/${pick(parts)}/${pick(segments)}/${pick(segments)}${pick(queries)}`;
      const method = pick(methods);
      const body = method === "GET" || method === "HEAD" || method === "LIST" ? undefined : pick(bodies);
      const contentType = pick(["application/json", "application/merge-patch+json", "text/plain"]);
      const res = await new Promise<number>((resolve, reject) => {
        const req = http.request({ host: "127.0.0.1", port: tv.port, method, path: target, agent: false, headers: { "x-vault-token": token, "content-type": contentType } }, (r) => {
          r.resume();
          r.on("end", () => resolve(r.statusCode ?? 0));
        });
        req.on("error", reject);
        req.end(body);
      }).catch(() => 0);
      // A method HTTP itself does not know is 501 Not Implemented before any route is looked at.
      const unknownMethod = method === "constructor" && res === 501;
      if ((res >= 500 && !unknownMethod) || res === 0) fivexx.push(`${method} ${target} ${body ?? ""} -> ${res}`);
    }
    expect(fivexx).toEqual([]);
  });
});

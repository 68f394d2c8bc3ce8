import nodeVault from "node-vault";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startTestVault, type TestVault } from "../support/vault.js";

/** What node-vault rejects with on a non-2xx answer: its ApiResponseError, with Vault's status and body. */
type ApiResponseError = Error & { response: { statusCode: number; body: { errors?: string[] } } };

/** The error a node-vault call rejected with (the test fails if it resolved). */
async function rejection(call: Promise<unknown>): Promise<ApiResponseError> {
  const outcome = await call.then(
    (value) => ({ value }),
    (error: unknown) => ({ error }),
  );
  if (!("error" in outcome)) throw new Error(`expected the call to fail, it answered ${JSON.stringify(outcome.value)}`);
  return outcome.error as ApiResponseError;
}

/**
 * node-vault (npm), the Vault client Node.js users have, with its default settings (the `LIST`
 * method, `X-Vault-Token`, axios' kept-alive connections) against a real ScaiVault on a real
 * socket, driving KV v2 as its README shows: generic read/write/update/list/delete under `/v1/`
 * plus its generated commands (health, token lookup, destroy). Both databases.
 */
describe("Vault KV v2 dialect through node-vault", () => {
  let tv: TestVault;
  let vault: nodeVault.client;
  beforeAll(async () => {
    tv = await startTestVault({ env: { SCAIVAULT_VAULT_MOUNTS: "secret=,kv=teams/" } });
    vault = nodeVault({ endpoint: tv.baseUrl, token: await tv.token({ tenantId: "acme", scopes: ["admin"], sub: "node-app" }) });
  });
  afterAll(async () => {
    await tv?.close();
  });

  it("discovery and auth: health, the mounts, lookup-self from the token, renew-self refused in Vault's error shape", async () => {
    const health = await vault.health();
    expect(health).toMatchObject({ initialized: true, sealed: false, standby: false });
    const mounts = await vault.mounts();
    expect(mounts.data["secret/"]).toMatchObject({ type: "kv", options: { version: "2" } });
    expect(mounts.data["kv/"]).toMatchObject({ type: "kv", options: { version: "2" } });
    const self = await vault.tokenLookupSelf();
    expect(self.data).toMatchObject({ display_name: "token-node-app", policies: ["admin"], renewable: false, type: "service" });
    expect(self.data.ttl).toBeGreaterThan(3500);
    const renew = await rejection(vault.tokenRenewSelf());
    expect(renew.response.statusCode).toBe(400);
    expect(renew.response.body.errors?.[0]).toMatch(/not renewable/);
  });

  it("writes, writes with check-and-set, reads the latest and an older version, and merges a PATCH", async () => {
    const first = await vault.write("secret/data/app/db", { data: { user: "app", password: "one" } });
    expect(first.data).toMatchObject({ version: 1, destroyed: false, deletion_time: "" });
    const second = await vault.write("secret/data/app/db", { data: { user: "app", password: "two" }, options: { cas: 1 } });
    expect(second.data.version).toBe(2);

    const latest = await vault.read("secret/data/app/db");
    expect(latest).toMatchObject({ lease_id: "", renewable: false, lease_duration: 0, wrap_info: null });
    expect(latest.data.data).toEqual({ user: "app", password: "two" });
    expect(latest.data.metadata.version).toBe(2);
    const older = await vault.read("secret/data/app/db?version=1");
    expect(older.data.data.password).toBe("one");

    const patched = await vault.update("secret/data/app/db", { data: { password: "three", port: "5432" } });
    expect(patched.data.version).toBe(3);
    expect((await vault.read("secret/data/app/db")).data.data).toEqual({ user: "app", password: "three", port: "5432" });

    const casMismatch = await rejection(vault.write("secret/data/app/db", { data: { password: "x" }, options: { cas: 1 } }));
    expect(casMismatch.response.statusCode).toBe(400);
    expect(casMismatch.response.body.errors?.[0]).toMatch(/check-and-set/);
    // The native API reads what node-vault wrote.
    const native = await tv.rest("GET", "/v1/secrets/app/db", { token: vault.token });
    expect(native.body).toMatchObject({ version: 3, data: { user: "app", password: "three", port: "5432" } });
  });

  it("lists with LIST one level deep, folders with a trailing slash, again and again on its kept-alive agent; GET ?list=1 with noCustomHTTPVerbs", async () => {
    await vault.write("secret/data/tree/a", { data: { k: "a" } });
    await vault.write("secret/data/tree/sub/b", { data: { k: "b" } });
    for (let i = 0; i < 3; i++) {
      expect((await vault.list("secret/metadata/tree")).data.keys).toEqual(["a", "sub/"]);
      expect((await vault.read("secret/data/tree/a")).data.data.k).toBe("a");
    }
    expect((await vault.list("secret/metadata/tree/sub/")).data.keys).toEqual(["b"]);
    const plain = nodeVault({ endpoint: tv.baseUrl, token: vault.token, noCustomHTTPVerbs: true });
    expect((await plain.list("secret/metadata/tree")).data.keys).toEqual(["a", "sub/"]);
    const empty = await rejection(vault.list("secret/metadata/nothing/here"));
    expect(empty.response.statusCode).toBe(404);
  });

  it("deletes the latest version, undeletes it, destroys one, reads and writes metadata, deletes the whole secret", async () => {
    for (const password of ["v1", "v2", "v3"]) await vault.write("secret/data/life/db", { data: { password } });
    await vault.delete("secret/data/life/db");
    const deleted = await rejection(vault.read("secret/data/life/db"));
    expect(deleted.response.statusCode).toBe(404);
    await vault.write("secret/undelete/life/db", { versions: [3] });
    expect((await vault.read("secret/data/life/db")).data.data.password).toBe("v3");
    await vault.write("secret/delete/life/db", { versions: [1] });
    await vault.destroySecretVersions({ path: "life/db", versions: [2] });
    expect((await rejection(vault.read("secret/data/life/db?version=2"))).response.statusCode).toBe(404);

    await vault.write("secret/metadata/life/db", { max_versions: 5, custom_metadata: { owner: "payments" } });
    const meta = await vault.read("secret/metadata/life/db");
    expect(meta.data).toMatchObject({ current_version: 3, oldest_version: 1, max_versions: 5, custom_metadata: { owner: "payments" } });
    expect(meta.data.versions["1"].deletion_time).not.toBe("");
    expect(meta.data.versions["2"].destroyed).toBe(true);
    expect(meta.data.versions["3"]).toMatchObject({ deletion_time: "", destroyed: false });

    await vault.delete("secret/metadata/life/db");
    expect((await rejection(vault.read("secret/metadata/life/db"))).response.statusCode).toBe(404);
    expect((await tv.rest("GET", "/v1/secrets/life/db", { token: vault.token })).status).toBe(404);
  });

  it("a mount maps to its prefix; Vault's errors reach node-vault's ApiResponseError; a second tenant sees nothing", async () => {
    await vault.write("kv/data/payments/stripe", { data: { key: "sk" } });
    expect((await vault.read("secret/data/teams/payments/stripe")).data.data).toEqual({ key: "sk" });

    const missing = await rejection(vault.read("secret/data/no/such"));
    expect(missing.response).toMatchObject({ statusCode: 404, body: { errors: [] } });
    const badToken = await rejection(nodeVault({ endpoint: tv.baseUrl, token: "not-a-token" }).read("secret/data/teams/payments/stripe"));
    expect(badToken.response).toMatchObject({ statusCode: 403, body: { errors: ["permission denied"] } });
    const reader = nodeVault({ endpoint: tv.baseUrl, token: await tv.token({ tenantId: "acme", scopes: ["secrets:read"] }) });
    expect((await reader.read("kv/data/payments/stripe")).data.data.key).toBe("sk");
    expect((await rejection(reader.write("kv/data/payments/stripe", { data: { key: "x" } }))).response.statusCode).toBe(403);

    const other = nodeVault({ endpoint: tv.baseUrl, token: await tv.token({ tenantId: "globex", scopes: ["admin"] }) });
    expect((await rejection(other.read("kv/data/payments/stripe"))).response.statusCode).toBe(404);
    expect((await rejection(other.list("secret/metadata/"))).response.statusCode).toBe(404);
  });

  it("a partner admin names the tenant with node-vault's namespace option (X-Vault-Namespace), as the registry allows", async () => {
    const operator = await tv.token({ tenantId: "ops", scopes: ["platform:admin"], sub: "operator" });
    const partnerAdmin = await tv.token({ tenantId: "pn-home", scopes: ["secrets:read", "secrets:write"], partnerId: "pn", partnerAdmin: true });
    const forMember = nodeVault({ endpoint: tv.baseUrl, token: partnerAdmin, namespace: "member" });
    // Not yet the partner's tenant in the registry: refused.
    expect((await rejection(forMember.write("secret/data/ns/a", { data: { k: "v" } }))).response.statusCode).toBe(403);
    expect((await tv.rest("PUT", "/v1/tenants/member", { token: operator, body: { partner_id: "pn" } })).status).toBe(201);
    expect((await forMember.write("secret/data/ns/a", { data: { k: "v" } })).data.version).toBe(1);
    const memberToken = await tv.token({ tenantId: "member", scopes: ["secrets:read"] });
    expect((await tv.rest("GET", "/v1/secrets/ns/a", { token: memberToken })).body.data).toEqual({ k: "v" });
    // Without the namespace the partner admin acts in its own tenant, which has no such secret.
    expect((await rejection(nodeVault({ endpoint: tv.baseUrl, token: partnerAdmin }).read("secret/data/ns/a"))).response.statusCode).toBe(404);
  });

  it("subkeys and the mount's config through node-vault's generic read", async () => {
    await vault.write("secret/data/shape/x", { data: { db: { user: "u", password: "p" }, port: "1" } });
    const subkeys = await vault.read("secret/subkeys/shape/x");
    expect(subkeys.data.subkeys).toEqual({ db: { user: null, password: null }, port: null });
    expect((await vault.read("secret/subkeys/shape/x?depth=1")).data.subkeys).toEqual({ db: null, port: null });
    expect((await vault.read("secret/config")).data).toEqual({ cas_required: false, delete_version_after: "0s", max_versions: 0 });
  });
});

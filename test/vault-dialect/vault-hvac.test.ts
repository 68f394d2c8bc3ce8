import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startTestVault, type TestVault } from "../support/vault.js";
import { ok, runHvac, type HvacCall } from "./hvac.js";

/** hvac, as its own docs show it, against a real ScaiVault on a real socket (both databases). */
describe("Vault KV v2 dialect through hvac", () => {
  let tv: TestVault;
  let token: string;
  beforeAll(async () => {
    tv = await startTestVault({ env: { SCAIVAULT_VAULT_MOUNTS: "secret=,kv=teams/" } });
    token = await tv.token({ tenantId: "acme", scopes: ["admin"], sub: "ci-bot" });
  });
  afterAll(async () => {
    await tv?.close();
  });
  const hvac = (calls: HvacCall[], as: { token?: string; namespace?: string } = {}) => runHvac({ url: tv.baseUrl, token: as.token ?? token, namespace: as.namespace, calls });

  it("discovery and auth: health, seal status, the KV v2 mounts, lookup-self from the token, renew-self refused", async () => {
    const [health, seal, authed, lookup, mounts, uiMount, renew] = await hvac([
      { fn: "sys.read_health_status", kwargs: { method: "GET" } },
      { fn: "sys.read_seal_status" },
      { fn: "is_authenticated" },
      { fn: "auth.token.lookup_self" },
      { fn: "sys.list_mounted_secrets_engines" },
      { adapter: "get", url: "/v1/sys/internal/ui/mounts/secret/app/db" },
      { fn: "auth.token.renew_self" },
    ]);
    expect(ok(health)).toMatchObject({ initialized: true, sealed: false, standby: false });
    expect(ok(health).version).toMatch(/^1\.\d+\.\d+\+scaivault/);
    expect(ok(seal)).toMatchObject({ initialized: true, sealed: false });
    expect(ok(authed)).toBe(true);
    const self = ok(lookup).data;
    expect(self).toMatchObject({ type: "service", renewable: false, display_name: "token-ci-bot", policies: ["admin"] });
    expect(self.ttl).toBeGreaterThan(3500);
    expect(self.ttl).toBeLessThanOrEqual(3600);
    expect(Date.parse(self.expire_time)).toBeGreaterThan(Date.now());
    expect(ok(mounts).data["secret/"]).toMatchObject({ type: "kv", options: { version: "2" } });
    expect(ok(mounts).data["kv/"]).toMatchObject({ type: "kv", options: { version: "2" } });
    expect(ok(uiMount).data).toMatchObject({ path: "secret/", type: "kv", options: { version: "2" } });
    expect(renew).toMatchObject({ error: "InvalidRequest" });
    expect((renew as { errors: string[] }).errors[0]).toMatch(/not renewable/);
  });

  it("writes, reads by version, lists with LIST on a kept-alive connection, and reads metadata", async () => {
    const results = await hvac([
      { fn: "secrets.kv.v2.create_or_update_secret", kwargs: { path: "app/db", secret: { user: "app", password: "s3cret" } } },
      { fn: "secrets.kv.v2.create_or_update_secret", kwargs: { path: "app/db", secret: { user: "app", password: "n3w" }, cas: 1 } },
      { fn: "secrets.kv.v2.create_or_update_secret", kwargs: { path: "app/api/key", secret: { k: "v" } } },
      { fn: "secrets.kv.v2.read_secret_version", kwargs: { path: "app/db" } },
      { fn: "secrets.kv.v2.read_secret_version", kwargs: { path: "app/db", version: 1 } },
      { fn: "secrets.kv.v2.list_secrets", kwargs: { path: "app" } },
      { fn: "secrets.kv.v2.list_secrets", kwargs: { path: "" } },
      { fn: "secrets.kv.v2.read_secret_metadata", kwargs: { path: "app/db" } },
      { fn: "secrets.kv.v2.read_secret_version", kwargs: { path: "app/db" } },
    ]);
    const [first, second, , latest, v1, listApp, listRoot, meta, afterList] = results;
    expect(ok(first).data).toMatchObject({ version: 1, destroyed: false, deletion_time: "" });
    expect(ok(second).data.version).toBe(2);
    expect(ok(latest)).toMatchObject({ lease_id: "", renewable: false, lease_duration: 0, wrap_info: null });
    expect(ok(latest).data.data).toEqual({ user: "app", password: "n3w" });
    expect(ok(latest).data.metadata).toMatchObject({ version: 2, destroyed: false, deletion_time: "" });
    expect(ok(latest).request_id).toMatch(/^[0-9a-f-]{36}$/);
    expect(ok(v1).data.data.password).toBe("s3cret");
    expect(ok(listApp).data.keys).toEqual(["api/", "db"]);
    expect(ok(listRoot).data.keys).toEqual(["app/"]);
    const m = ok(meta).data;
    expect(m).toMatchObject({ current_version: 2, oldest_version: 1, max_versions: 10, cas_required: false });
    expect(Object.keys(m.versions)).toEqual(["1", "2"]);
    expect(m.versions["1"]).toMatchObject({ deletion_time: "", destroyed: false });
    // The client goes on after a LIST answered on its connection.
    expect(ok(afterList).data.metadata.version).toBe(2);
  });

  it("patches, refuses a check-and-set mismatch, and answers misses, bad tokens and missing scopes as Vault does", async () => {
    const reader = await tv.token({ tenantId: "acme", scopes: ["secrets:read"] });
    const [created, patched, read, casMismatch, missing, missingList, missingVersion] = await hvac([
      { fn: "secrets.kv.v2.create_or_update_secret", kwargs: { path: "svc/cfg", secret: { a: "1", b: "2" } } },
      { fn: "secrets.kv.v2.patch", kwargs: { path: "svc/cfg", secret: { b: "3", c: "4" } } },
      { fn: "secrets.kv.v2.read_secret_version", kwargs: { path: "svc/cfg" } },
      { fn: "secrets.kv.v2.create_or_update_secret", kwargs: { path: "svc/cfg", secret: { a: "x" }, cas: 1 } },
      { fn: "secrets.kv.v2.read_secret_version", kwargs: { path: "svc/none" } },
      { fn: "secrets.kv.v2.list_secrets", kwargs: { path: "nothing/here" } },
      { fn: "secrets.kv.v2.read_secret_version", kwargs: { path: "svc/cfg", version: 9 } },
    ]);
    expect(ok(created).data.version).toBe(1);
    expect(ok(patched).data.version).toBe(2);
    expect(ok(read).data.data).toEqual({ a: "1", b: "3", c: "4" });
    expect(casMismatch).toMatchObject({ error: "InvalidRequest", errors: ["check-and-set parameter did not match the current version"] });
    expect(missing).toMatchObject({ error: "InvalidPath", errors: [] });
    expect(missingList).toMatchObject({ error: "InvalidPath" });
    expect(missingVersion).toMatchObject({ error: "InvalidPath" });

    const [badToken] = await hvac([{ fn: "secrets.kv.v2.read_secret_version", kwargs: { path: "svc/cfg" } }], { token: "not-a-token" });
    expect(badToken).toMatchObject({ error: "Forbidden", errors: ["permission denied"] });
    const [readerRead, readerWrite] = await hvac(
      [
        { fn: "secrets.kv.v2.read_secret_version", kwargs: { path: "svc/cfg" } },
        { fn: "secrets.kv.v2.create_or_update_secret", kwargs: { path: "svc/cfg", secret: { a: "y" } } },
      ],
      { token: reader },
    );
    expect(ok(readerRead).data.data.a).toBe("1");
    expect(readerWrite).toMatchObject({ error: "Forbidden", errors: ["permission denied"] });
  });

  it("a mount maps to a path prefix; a second tenant sees nothing of the first", async () => {
    const [written] = await hvac([{ fn: "secrets.kv.v2.create_or_update_secret", kwargs: { path: "payments/stripe", secret: { key: "sk" }, mount_point: "kv" } }]);
    expect(ok(written).data.version).toBe(1);
    const native = await tv.rest("GET", "/v1/secrets/teams/payments/stripe", { token });
    expect(native.status).toBe(200);
    expect(native.body.data).toEqual({ key: "sk" });
    const [viaSecret] = await hvac([{ fn: "secrets.kv.v2.read_secret_version", kwargs: { path: "teams/payments/stripe" } }]);
    expect(ok(viaSecret).data.data).toEqual({ key: "sk" });

    const other = await tv.token({ tenantId: "globex", scopes: ["admin"] });
    const [read, list, listKv] = await hvac(
      [
        { fn: "secrets.kv.v2.read_secret_version", kwargs: { path: "app/db" } },
        { fn: "secrets.kv.v2.list_secrets", kwargs: { path: "" } },
        { fn: "secrets.kv.v2.list_secrets", kwargs: { path: "", mount_point: "kv" } },
      ],
      { token: other },
    );
    expect(read).toMatchObject({ error: "InvalidPath" });
    expect(list).toMatchObject({ error: "InvalidPath" });
    expect(listKv).toMatchObject({ error: "InvalidPath" });
  });

  it("audits Vault-dialect calls with the dialect in the action, the actor and the path", async () => {
    await hvac([{ fn: "secrets.kv.v2.create_or_update_secret", kwargs: { path: "audited/one", secret: { x: "1" } } }]);
    const audit = await tv.rest("GET", "/v1/audit/events?path=audited/one", { token });
    expect(audit.status).toBe(200);
    const events = audit.body.data as { action: string; actor: string; outcome: string }[];
    expect(events.some((e) => e.action === "vault.kv.write" && e.actor === "ci-bot" && e.outcome === "allowed")).toBe(true);
  });
});

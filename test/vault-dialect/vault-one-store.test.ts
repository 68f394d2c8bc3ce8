import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { connectWatch } from "../support/watchers.js";
import { startTestVault, type TestVault } from "../support/vault.js";
import { ok, runHvac, type HvacCall } from "./hvac.js";

/** The rest of KV v2 through hvac, and one store under both dialects (both databases). */
describe("Vault KV v2 versions and settings; one store with the native API", () => {
  let tv: TestVault;
  let token: string;
  beforeAll(async () => {
    tv = await startTestVault();
    token = await tv.token({ tenantId: "acme", scopes: ["admin"], sub: "ops" });
  });
  afterAll(async () => {
    await tv?.close();
  });
  const hvac = (calls: HvacCall[], as: { token?: string } = {}) => runHvac({ url: tv.baseUrl, token: as.token ?? token, calls });
  const kv = (fn: string, kwargs: Record<string, unknown>): HvacCall => ({ fn: `secrets.kv.v2.${fn}`, kwargs });

  it("deletes, undeletes and destroys versions one by one; the native API shows the same versions", async () => {
    const results = await hvac([
      kv("create_or_update_secret", { path: "life/db", secret: { p: "1" } }),
      kv("create_or_update_secret", { path: "life/db", secret: { p: "2" } }),
      kv("create_or_update_secret", { path: "life/db", secret: { p: "3" } }),
      kv("delete_latest_version_of_secret", { path: "life/db" }),
      kv("read_secret_version", { path: "life/db" }),
      kv("delete_secret_versions", { path: "life/db", versions: [1] }),
      kv("read_secret_version", { path: "life/db", version: 1 }),
      kv("undelete_secret_versions", { path: "life/db", versions: [3] }),
      kv("read_secret_version", { path: "life/db" }),
      kv("destroy_secret_versions", { path: "life/db", versions: [2] }),
      kv("read_secret_version", { path: "life/db", version: 2 }),
      kv("undelete_secret_versions", { path: "life/db", versions: [2] }),
      kv("read_secret_metadata", { path: "life/db" }),
    ]);
    const [, , , delLatest, readDeleted, del1, read1, undel3, read3, destroy2, read2, undel2, meta] = results;
    expect(ok(delLatest).status).toBe(204);
    expect(readDeleted).toMatchObject({ error: "InvalidPath" });
    expect(ok(del1).status).toBe(204);
    expect(read1).toMatchObject({ error: "InvalidPath" });
    expect(ok(undel3).status).toBe(204);
    expect(ok(read3).data.data).toEqual({ p: "3" });
    expect(ok(destroy2).status).toBe(204);
    expect(read2).toMatchObject({ error: "InvalidPath" });
    expect(ok(undel2).status).toBe(204);
    const versions = ok(meta).data.versions;
    expect(versions["1"].deletion_time).not.toBe("");
    expect(versions["1"].destroyed).toBe(false);
    expect(versions["2"]).toMatchObject({ destroyed: true });
    expect(versions["3"]).toMatchObject({ deletion_time: "", destroyed: false });

    const native = await tv.rest("GET", "/v1/secrets/life/db/versions", { token });
    expect(native.status).toBe(200);
    const byVersion = Object.fromEntries((native.body.versions as { version: number; stage: string; destroyed: boolean; deleted_at: string | null }[]).map((v) => [v.version, v]));
    expect(byVersion[3]).toMatchObject({ stage: "current", destroyed: false, deleted_at: null });
    expect(byVersion[2]).toMatchObject({ stage: "destroyed", destroyed: true });
    expect(byVersion[1]).toMatchObject({ stage: "deleted", destroyed: false });
    expect(byVersion[1].deleted_at).toBe(versions["1"].deletion_time);
    const nativeV1 = await tv.rest("GET", "/v1/secrets/life/db?version=1", { token });
    expect(nativeV1.status).toBe(404);
  });

  it("metadata writes: max_versions, cas_required, custom_metadata, delete_version_after; the native metadata shows them", async () => {
    const results = await hvac([
      kv("create_or_update_secret", { path: "meta/app", secret: { a: "1" } }),
      kv("update_metadata", { path: "meta/app", max_versions: 5, cas_required: true, delete_version_after: "768h" }),
      { adapter: "post", url: "/v1/secret/metadata/meta/app", kwargs: { json: { custom_metadata: { owner: "payments", tier: "1" } } } },
      kv("create_or_update_secret", { path: "meta/app", secret: { a: "2" } }),
      kv("create_or_update_secret", { path: "meta/app", secret: { a: "2" }, cas: 1 }),
      kv("read_secret_metadata", { path: "meta/app" }),
      kv("read_secret_version", { path: "meta/app" }),
      { adapter: "post", url: "/v1/secret/metadata/meta/app", kwargs: { json: { custom_metadata: { bad: 1 } } } },
    ]);
    const [, settings, custom, casMissing, casGiven, meta, read, badCustom] = results;
    expect(ok(settings).status).toBe(204);
    expect(ok(custom).status).toBe(204);
    expect(casMissing).toMatchObject({ error: "InvalidRequest" });
    expect((casMissing as { errors: string[] }).errors[0]).toMatch(/check-and-set parameter required/);
    expect(ok(casGiven).data.version).toBe(2);
    expect(ok(meta).data).toMatchObject({ max_versions: 5, cas_required: true, delete_version_after: "768h0m0s", custom_metadata: { owner: "payments", tier: "1" }, current_version: 2 });
    expect(ok(read).data.metadata.custom_metadata).toEqual({ owner: "payments", tier: "1" });
    expect(badCustom).toMatchObject({ error: "InvalidRequest" });

    const native = await tv.rest("GET", "/v1/secrets/metadata/meta/app", { token });
    expect(native.status).toBe(200);
    expect(native.body).toMatchObject({ max_versions: 5, cas_required: true, delete_version_after: "768h0m0s", custom_metadata: { owner: "payments", tier: "1" } });
    // cas_required binds the native API too: the same secret, the same rule.
    const nativeWrite = await tv.rest("PUT", "/v1/secrets/meta/app", { token, body: { data: { a: "3" } } });
    expect(nativeWrite.status).toBe(400);
  });

  it("destroy and metadata delete need admin; metadata delete removes the secret and every version", async () => {
    const writer = await tv.token({ tenantId: "acme", scopes: ["secrets:read", "secrets:write", "secrets:delete"] });
    const [created, destroy, metaDelete, del] = await hvac(
      [
        kv("create_or_update_secret", { path: "gone/x", secret: { a: "1" } }),
        kv("destroy_secret_versions", { path: "gone/x", versions: [1] }),
        kv("delete_metadata_and_all_versions", { path: "gone/x" }),
        kv("delete_secret_versions", { path: "gone/x", versions: [1] }),
      ],
      { token: writer },
    );
    expect(ok(created).data.version).toBe(1);
    expect(destroy).toMatchObject({ error: "Forbidden" });
    expect(metaDelete).toMatchObject({ error: "Forbidden" });
    expect(ok(del).status).toBe(204);
    const [adminDelete, after, list] = await hvac([kv("delete_metadata_and_all_versions", { path: "gone/x" }), kv("read_secret_metadata", { path: "gone/x" }), kv("list_secrets", { path: "gone" })]);
    expect(ok(adminDelete).status).toBe(204);
    expect(after).toMatchObject({ error: "InvalidPath" });
    expect(list).toMatchObject({ error: "InvalidPath" });
    expect((await tv.rest("GET", "/v1/secrets/gone/x", { token })).status).toBe(404);
  });

  it("each dialect reads what the other wrote, a native rotation is what Vault reads next, and a Vault write reaches a watcher", async () => {
    const native = await tv.rest("PUT", "/v1/secrets/both/key", { token, body: { data: { v: "native" } } });
    expect(native.status).toBe(201);
    const watcher = connectWatch(tv.baseUrl, token, { prefix: "both/" });
    await watcher.live;
    try {
      const [readNative, vaultWrite] = await hvac([kv("read_secret_version", { path: "both/key" }), kv("create_or_update_secret", { path: "both/key", secret: { v: "vault" }, cas: 1 })]);
      expect(ok(readNative).data.data).toEqual({ v: "native" });
      expect(ok(vaultWrite).data.version).toBe(2);
      const [seen] = await watcher.waitFor(1);
      expect(seen).toMatchObject({ event_type: "secret.updated", path: "both/key", version: 2, stage: "current" });
    } finally {
      watcher.close();
    }
    const nativeRead = await tv.rest("GET", "/v1/secrets/both/key", { token });
    expect(nativeRead.body.data).toEqual({ v: "vault" });
    const rotated = await tv.rest("POST", "/v1/secrets/both/key/rotate", { token, body: { new_value: { v: "rotated" }, reason: "test" } });
    expect(rotated.status).toBe(200);
    const [afterRotation, meta] = await hvac([kv("read_secret_version", { path: "both/key" }), kv("read_secret_metadata", { path: "both/key" })]);
    expect(ok(afterRotation).data.data).toEqual({ v: "rotated" });
    expect(ok(afterRotation).data.metadata.version).toBe(3);
    expect(ok(meta).data.current_version).toBe(3);
  });
});

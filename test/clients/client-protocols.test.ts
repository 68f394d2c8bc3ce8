import { Code } from "@connectrpc/connect";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createScaiVaultClient, isScaiVaultError, ScaiVaultError, type ScaiVaultClient } from "../../clients/typescript/src/index.js";
import { startTestVault, type TestVault } from "../support/vault.js";

/** The ScaiVaultError a call fails with. */
async function failure(call: Promise<unknown>): Promise<ScaiVaultError> {
  try {
    await call;
  } catch (err) {
    expect(err).toBeInstanceOf(ScaiVaultError);
    return err as ScaiVaultError;
  }
  throw new Error("the call succeeded");
}

let tv: TestVault;
beforeAll(async () => {
  tv = await startTestVault();
});
afterAll(() => tv?.close());

describe.each(["connect", "grpc", "grpc-web"] as const)("@scaivault/client over %s", (protocol) => {
  let vault: ScaiVaultClient;
  const tenant = `client-${protocol}`;
  beforeAll(async () => {
    vault = createScaiVaultClient({ baseUrl: tv.baseUrl, protocol, token: await tv.token({ tenantId: tenant }) });
  });
  afterAll(() => vault?.close());

  it("writes, reads, versions, updates, deletes and restores a secret", async () => {
    const created = await vault.secrets.put("app/db", { user: "app", password: "one" }, { secretType: "json", tags: ["db"], description: "main database" });
    expect(created).toMatchObject({ path: "app/db", version: 1, created: true });
    expect(created.createdAt).toBeInstanceOf(Date);

    const updated = await vault.secrets.put("app/db", { user: "app", password: "two" });
    expect(updated).toMatchObject({ version: 2, created: false, previousVersion: 1 });

    const current = await vault.secrets.get<{ user: string; password: string }>("app/db");
    expect(current.data.password).toBe("two");
    expect(current).toMatchObject({ path: "app/db", version: 2, secretType: "json", metadata: { tags: ["db"], description: "main database" } });
    expect((await vault.secrets.get("app/db", { version: 1 })).data).toEqual({ user: "app", password: "one" });

    const versions = await vault.secrets.listSecretVersions({ path: "app/db" });
    expect(versions.versions.map((v) => [v.version, v.isCurrent])).toEqual([
      [2, true],
      [1, false],
    ]);
    const patched = await vault.secrets.updateSecretMetadata({ path: "app/db", metadata: { owner: "team-db" } });
    expect(patched.metadata?.owner).toBe("team-db");
    expect((await vault.secrets.getSecretMetadata({ path: "app/db" })).currentVersion).toBe(2);

    expect(await vault.secrets.deleteSecret({ path: "app/db" })).toMatchObject({ deleted: true, permanent: false });
    expect((await failure(vault.secrets.get("app/db"))).code).toBe("secret_not_found");
    expect(await vault.secrets.restoreSecret({ path: "app/db" })).toMatchObject({ restored: true, version: 2 });

    const rotated = await vault.secrets.rotateSecret({ path: "app/db", newValue: { user: "app", password: "three" }, reason: "test" });
    expect(rotated).toMatchObject({ version: 3, previousVersion: 2 });
    expect((await vault.secrets.get("app/db")).data.password).toBe("three");
  });

  it("iterates over every page of a listing", async () => {
    const paths = Array.from({ length: 7 }, (_, i) => `paged/item-${i}`);
    for (const path of paths) await vault.secrets.put(path, { n: path });
    await vault.secrets.put("elsewhere/item", { n: 0 });

    const seen: string[] = [];
    for await (const row of vault.secrets.list({ prefix: "paged/", pageSize: 3 })) {
      expect(row.version).toBe(1);
      seen.push(row.path);
    }
    expect(seen.sort()).toEqual(paths);
  });

  it("throws ScaiVaultError with the contract's code whatever the protocol", async () => {
    const missing = await failure(vault.secrets.get("no/such/secret"));
    expect(missing).toMatchObject({ code: "secret_not_found", grpcCode: Code.NotFound, httpStatus: 404, isNotFound: true });
    expect(isScaiVaultError(missing, "secret_not_found")).toBe(true);

    await vault.secrets.put("cas/one", { v: 1 });
    const conflict = await failure(vault.secrets.put("cas/one", { v: 2 }, { cas: 7 }));
    expect(conflict).toMatchObject({ code: "version_conflict", grpcCode: Code.Aborted, httpStatus: 409 });

    expect((await failure(vault.secrets.get("bad//path"))).code).toBe("invalid_path");
    expect((await failure(vault.secrets.get("cas/one", { version: 99 }))).code).toBe("version_not_found");
    expect((await failure(vault.rotation.getRotationPolicy({ id: "rot_nope" }))).code).toBe("rotation_policy_not_found");

    const anonymous = createScaiVaultClient({ baseUrl: tv.baseUrl, protocol, token: "not-a-jwt" });
    expect((await failure(anonymous.secrets.get("cas/one"))).code).toBe("unauthenticated");
    anonymous.close();

    const reader = createScaiVaultClient({ baseUrl: tv.baseUrl, protocol, getToken: () => tv.token({ tenantId: tenant, scopes: ["secrets:read"] }) });
    expect((await reader.secrets.get("cas/one")).data).toEqual({ v: 1 });
    const denied = await failure(reader.secrets.put("cas/one", { v: 3 }));
    expect(denied).toMatchObject({ code: "access_denied", grpcCode: Code.PermissionDenied });
    expect(denied.requestId).toBeTruthy();
    reader.close();
  });

  it("reaches every service", async () => {
    const policy = await vault.secretPolicies.createSecretPolicy({ name: `pw-${protocol}`, length: 24 });
    expect(policy.id).toBe(`sp_pw-${protocol}`);
    const rotation = await vault.rotation.createRotationPolicy({ name: `r-${protocol}`, interval: "90d", autoGenerate: true, secretPolicyId: policy.id });
    expect(rotation.id).toBe(`rot_r-${protocol}`);
    expect((await vault.rotation.listRotationPolicies({})).data.map((p) => p.id)).toContain(rotation.id);
    expect((await vault.webhooks.listWebhooks({})).data).toEqual([]);
    const audit = await vault.audit.listAuditEvents({ action: "CreateRotationPolicy", limit: 5 });
    expect(audit.data[0]).toMatchObject({ action: "CreateRotationPolicy", outcome: "allowed" });
  });

  it("creates a scheduled rotation policy and reads its next windows", async () => {
    const policy = await vault.rotation.createRotationPolicy({ name: `sched-${protocol}`, schedule: "0 3 * * SAT", timezone: "Europe/Berlin", rotationWindow: "3h" });
    expect([policy.schedule, policy.timezone, policy.rotationWindow, policy.interval]).toEqual(["0 3 * * SAT", "Europe/Berlin", "3h", undefined]);
    expect(policy.nextWindows).toHaveLength(3);
    const bad = await failure(vault.rotation.createRotationPolicy({ name: `bad-${protocol}`, schedule: "0 3 * * SAT", timezone: "Moon/Base" }));
    expect(bad.code).toBe("invalid_request");
    expect(bad.message).toContain("timezone");
  });
});

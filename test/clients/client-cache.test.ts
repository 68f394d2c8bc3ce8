import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { createScaiVaultClient, ScaiVaultError, type ScaiVaultClient } from "../../clients/typescript/src/index.js";
import { createManualClock } from "../../src/clock.js";
import { startTestVault, type TestVault } from "../support/vault.js";

const ttlMs = 60_000;

describe("the read cache of @scaivault/client", () => {
  let tv: TestVault;
  let token: string;
  beforeAll(async () => {
    tv = await startTestVault();
    token = await tv.token({ tenantId: "cache" });
  });
  afterAll(() => tv?.close());

  /** A client with a cache on a clock that only moves when told to. */
  function cachedClient(extra: { maxStaleMs?: number; refreshAheadMs?: number } = {}) {
    const clock = createManualClock();
    const refreshErrors: ScaiVaultError[] = [];
    const vault = createScaiVaultClient({
      baseUrl: tv.baseUrl,
      token,
      retries: 0,
      cache: { ttlMs, refreshAheadMs: 0, clock, onRefreshError: (err) => refreshErrors.push(err), ...extra },
    });
    return { vault, clock, refreshErrors };
  }
  /** A write that does not go through the cached client, so nothing tells its cache. */
  const writeBehindItsBack = (path: string, data: object) => tv.rest("PUT", `/v1/secrets/${path}`, { token, body: { data } });

  it("serves a value for its TTL, then reads the service again", async () => {
    const { vault, clock } = cachedClient();
    await vault.secrets.put("ttl/a", { v: 1 });
    expect((await vault.secrets.get("ttl/a")).data).toEqual({ v: 1 });
    expect(vault.cache?.size).toBe(1);

    expect((await writeBehindItsBack("ttl/a", { v: 2 })).status).toBe(200);
    clock.advance(ttlMs - 1);
    expect((await vault.secrets.get("ttl/a")).data).toEqual({ v: 1 });
    expect((await vault.secrets.get("ttl/a", { fresh: true })).data).toEqual({ v: 2 });

    await writeBehindItsBack("ttl/a", { v: 3 });
    clock.advance(ttlMs);
    expect((await vault.secrets.get("ttl/a")).data).toEqual({ v: 3 });
    // Versions are cached apart from the current value, and shared values cannot be changed by one reader.
    const first = await vault.secrets.get<{ v: number }>("ttl/a", { version: 1 });
    expect(first.data).toEqual({ v: 1 });
    expect(() => {
      first.data.v = 9;
    }).toThrow(TypeError);
    vault.close();
  });

  it("refreshes in the background near the end of the TTL", async () => {
    const { vault, clock } = cachedClient({ refreshAheadMs: 20_000 });
    await vault.secrets.put("ahead/a", { v: 1 });
    await vault.secrets.get("ahead/a");
    await writeBehindItsBack("ahead/a", { v: 2 });

    clock.advance(45_000); // inside the refresh-ahead window, still fresh
    expect((await vault.secrets.get("ahead/a")).data).toEqual({ v: 1 });
    await vi.waitFor(async () => expect((await vault.secrets.get("ahead/a")).data).toEqual({ v: 2 }));
    vault.close();
  });

  it("invalidates on every write through the same client", async () => {
    const { vault } = cachedClient();
    await vault.secrets.put("inv/a", { v: 1 });
    await vault.secrets.get("inv/a");
    await vault.secrets.put("inv/a", { v: 2 });
    expect((await vault.secrets.get("inv/a")).data).toEqual({ v: 2 });

    await vault.secrets.updateSecretMetadata({ path: "inv/a", metadata: { owner: "team" } });
    expect((await vault.secrets.get("inv/a")).metadata.owner).toBe("team");

    await vault.secrets.rotateSecret({ path: "inv/a", newValue: { v: 3 } });
    expect((await vault.secrets.get("inv/a")).data).toEqual({ v: 3 });

    await vault.secrets.deleteSecret({ path: "inv/a" });
    await expect(vault.secrets.get("inv/a")).rejects.toMatchObject({ code: "secret_not_found" });
    await vault.secrets.restoreSecret({ path: "inv/a" });
    expect((await vault.secrets.get("inv/a")).version).toBe(3);

    vault.cache?.invalidate("inv/a");
    expect(vault.cache?.size).toBe(0);
    vault.close();
  });

  it("never serves a value the service says is gone", async () => {
    const { vault, clock } = cachedClient();
    await vault.secrets.put("gone/a", { v: 1 });
    await vault.secrets.get("gone/a");
    expect((await tv.rest("DELETE", "/v1/secrets/gone/a", { token })).status).toBe(200);
    clock.advance(ttlMs);
    await expect(vault.secrets.get("gone/a")).rejects.toMatchObject({ code: "secret_not_found" });
    expect(vault.cache?.size).toBe(0);
    vault.close();
  });

  // Last: it stops the server. (One file, one server: the app's named cron job is process-wide.)
  it("serves a stale value while the service is down, up to its bound", async () => {
    const clock = createManualClock();
    const refreshErrors: string[] = [];
    const vault: ScaiVaultClient = createScaiVaultClient({
      baseUrl: tv.baseUrl,
      token,
      retries: 0,
      timeoutMs: 5_000,
      cache: { ttlMs, refreshAheadMs: 0, maxStaleMs: 120_000, clock, onRefreshError: (err) => refreshErrors.push(err.code) },
    });
    try {
      await vault.secrets.put("stale/a", { v: 1 });
      await vault.secrets.get("stale/a");
      await tv.stop();

      clock.advance(ttlMs + 1);
      expect((await vault.secrets.get("stale/a")).data).toEqual({ v: 1 });
      expect(refreshErrors).toEqual(["unavailable"]);
      clock.advance(500); // backing off: no new attempt yet
      expect((await vault.secrets.get("stale/a")).data).toEqual({ v: 1 });
      expect(refreshErrors).toHaveLength(1);

      clock.advance(120_000); // past TTL + maxStaleMs
      await expect(vault.secrets.get("stale/a")).rejects.toMatchObject({ code: "unavailable" });
      expect(refreshErrors).toEqual(["unavailable", "unavailable"]);
    } finally {
      vault.close();
    }
  });
});

import { randomBytes } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { BoundedMap } from "../../src/bounded-map.js";
import { createEnvelope, secretAad } from "../../src/crypto/envelope.js";
import { masterKeyFromBytes } from "../../src/crypto/master-key.js";
import { connectEmbedded, type DatabaseHandle } from "../../src/db/database.js";
import { migrateToLatest } from "../../src/db/migrations.js";
import { createSecretReadCache } from "../../src/secrets/secret-read-cache.js";
import type { SecretRow } from "../../src/secrets/secrets-store.js";

describe("BoundedMap", () => {
  it("keeps the most recently used entries up to its bound", () => {
    const map = new BoundedMap<string, number>(2);
    map.set("a", 1).set("b", 2);
    expect(map.get("a")).toBe(1); // a is now the most recent
    map.set("c", 3);
    expect([map.has("a"), map.has("b"), map.has("c")]).toEqual([true, false, true]);
    expect(map.size).toBe(2);
    const none = new BoundedMap<string, number>(0).set("a", 1);
    expect(none.size).toBe(0);
  });

  it("tells of each entry it drops to make room, and of no other", () => {
    const evicted: [string, number][] = [];
    const map = new BoundedMap<string, number>(2, (key, value) => evicted.push([key, value]));
    map.set("a", 1).set("b", 2).set("a", 10); // replacing a key evicts nothing
    map.delete("b");
    map.set("c", 3).set("d", 4);
    expect(evicted).toEqual([["a", 10]]);
    map.clear();
    expect([map.size, evicted.length]).toEqual([0, 1]);
  });
});

describe("the envelope's data-key cache is bounded", () => {
  let database: DatabaseHandle;
  beforeAll(async () => {
    database = await connectEmbedded("memory://");
    await migrateToLatest(database.db);
  });
  afterAll(async () => database?.close());

  it("holds at most maxCachedKeys unwrapped keys and still decrypts every tenant's values", async () => {
    const envelope = createEnvelope(masterKeyFromBytes(randomBytes(32)), database.db, { maxCachedKeys: 2 });
    const tenants = ["t1", "t2", "t3", "t4", "t5"];
    const sealed = [];
    for (const tenant of tenants) {
      await envelope.prepareTenant(tenant);
      sealed.push(await envelope.encrypt(database.db, tenant, secretAad(tenant, "p", 1), Buffer.from(`value of ${tenant}`)));
      expect(envelope.cachedKeys()).toBeLessThanOrEqual(2);
    }
    // Tenants whose keys were dropped are unwrapped again from the database.
    const opened = [];
    for (const [i, tenant] of tenants.entries()) {
      opened.push((await envelope.decrypt(database.db, tenant, secretAad(tenant, "p", 1), sealed[i]!)).toString());
    }
    expect(opened).toEqual(tenants.map((t) => `value of ${t}`));
    expect(envelope.cachedKeys()).toBe(2);
  });
});

describe("the secret read cache is bounded", () => {
  const entry = (id: number) => ({ secret: { id } as SecretRow, versions: new Map() });

  it("drops the least recently used secret, and its id with it", () => {
    const cache = createSecretReadCache(2);
    cache.put("t1", "a", entry(1), cache.generation());
    cache.put("t1", "b", entry(2), cache.generation());
    expect(cache.get("t1", "a")).toBeDefined(); // b is now the oldest
    cache.put("t1", "c", entry(3), cache.generation());
    expect([cache.get("t1", "a"), cache.get("t1", "b"), cache.get("t1", "c")].map(Boolean)).toEqual([true, false, true]);
    // b's id left with it: invalidating id 2 now drops nothing, invalidating 1 drops a.
    cache.invalidateSecret(2);
    expect(cache.size()).toBe(2);
    cache.invalidateSecret(1);
    expect([cache.size(), Boolean(cache.get("t1", "a"))]).toEqual([1, false]);
  });
});

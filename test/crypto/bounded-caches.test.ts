import { randomBytes } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { BoundedMap } from "../../src/bounded-map.js";
import { createEnvelope, secretAad } from "../../src/crypto/envelope.js";
import { masterKeyFromBytes } from "../../src/crypto/master-key.js";
import { connectEmbedded, type DatabaseHandle } from "../../src/db/database.js";
import { migrateToLatest } from "../../src/db/migrations.js";

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

import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createScaiVaultClient, type ScaiVaultError, type SecretChange } from "../../clients/typescript/src/index.js";
import { mintToken } from "../../src/auth/mint-token.js";
import { createManualClock } from "../../src/clock.js";
import { startTestVault, testJwtSecret, type TestVault } from "../support/vault.js";

describe("secrets.watch and the watching cache of @scaivault/client", () => {
  let tv: TestVault;
  let token: string;
  beforeAll(async () => {
    tv = await startTestVault();
    token = await tv.token({ tenantId: "cw", scopes: ["secrets:read", "secrets:write", "secrets:rotate"] });
  }, 180_000);
  afterAll(() => tv?.close(), 60_000);

  const write = (path: string, data: object) => tv.rest("PUT", `/v1/secrets/${path}`, { token, body: { data } });

  for (const protocol of ["connect", "grpc"] as const) {
    it(`reconnects and resumes by itself when its stream ends (${protocol}): every change once, in order`, async () => {
      // Short-lived tokens: each stream ends with unauthenticated and the client reopens it with a fresh one.
      const vault = createScaiVaultClient({
        baseUrl: tv.baseUrl,
        protocol,
        getToken: () => mintToken(testJwtSecret, { tenantId: "cw", scopes: ["secrets:read"], ttlSeconds: 4 }),
      });
      const abort = new AbortController();
      const reconnects: ScaiVaultError[] = [];
      let lives = 0;
      let wakeLive: () => void = () => undefined;
      const changes: SecretChange[] = [];
      const done = (async () => {
        for await (const change of vault.secrets.watch({
          prefix: `re-${protocol}/`,
          signal: abort.signal,
          onLive: () => (lives++, wakeLive()),
          onReconnect: (err) => reconnects.push(err),
        })) {
          changes.push(change);
          if (changes.length === 4) break;
        }
      })();
      // Waits until the stream has been live more than `after` times; fails at once if the iteration failed.
      const nextLive = (after: number) =>
        Promise.race([new Promise<void>((resolve) => (wakeLive = () => lives > after && resolve())), done.then(() => Promise.reject(new Error("the watch ended early")))]);
      if (lives === 0) await nextLive(0);
      await write(`re-${protocol}/key`, { v: 1 });
      // Wait for the stream to end on its token and come back, then write while and after it does.
      await nextLive(lives);
      await write(`re-${protocol}/key`, { v: 2 });
      await write(`re-${protocol}/key`, { v: 3 });
      await tv.rest("POST", `/v1/secrets/re-${protocol}/key/rotate`, { token, body: { new_value: { v: 4 } } });
      await done;
      abort.abort();
      vault.close();
      expect(reconnects.length).toBeGreaterThanOrEqual(1);
      expect(reconnects[0]!.code).toBe("unauthenticated");
      expect(changes.map((c) => [c.eventType, c.version])).toEqual([
        ["secret.created", 1],
        ["secret.updated", 2],
        ["secret.updated", 3],
        ["rotation.completed", 4],
      ]);
      expect(new Set(changes.map((c) => c.eventId)).size).toBe(4);
    }, 60_000);
  }

  it("with cache: { watch: true } a cached consumer sees a rotation at once; without it, only after its TTL", async () => {
    const ttlMs = 10 * 60_000;
    const watchingClock = createManualClock();
    const plainClock = createManualClock();
    const watching = createScaiVaultClient({ baseUrl: tv.baseUrl, token, cache: { ttlMs, refreshAheadMs: 0, clock: watchingClock, watch: true } });
    const plain = createScaiVaultClient({ baseUrl: tv.baseUrl, token, cache: { ttlMs, refreshAheadMs: 0, clock: plainClock } });
    try {
      expect((await write("cached/db", { password: "one" })).status).toBe(201);
      await watching.cache!.watching();
      expect((await watching.secrets.get("cached/db")).version).toBe(1);
      expect((await plain.secrets.get("cached/db")).version).toBe(1);

      const rotatedAt = performance.now();
      expect((await tv.rest("POST", "/v1/secrets/cached/db/rotate", { token, body: { new_value: { password: "two" } } })).status).toBe(200);
      // Neither clock moves: only the watch event can make the watching cache read again.
      let seen = 1;
      while (seen === 1 && performance.now() - rotatedAt < 15_000) {
        seen = (await watching.secrets.get("cached/db")).version;
        if (seen === 1) await new Promise((r) => setTimeout(r, 10));
      }
      console.log(`rotation seen by the watching cache after ${Math.round(performance.now() - rotatedAt)} ms (TTL ${ttlMs} ms)`);
      expect(seen).toBe(2);
      // The plain cache still serves version 1 after the watching one moved on, until its TTL ends.
      expect((await plain.secrets.get("cached/db")).version).toBe(1);
      plainClock.advance(ttlMs - 1);
      expect((await plain.secrets.get("cached/db")).version).toBe(1);
      plainClock.advance(1);
      expect((await plain.secrets.get("cached/db")).version).toBe(2);
    } finally {
      watching.close();
      plain.close();
    }
  }, 60_000);
});

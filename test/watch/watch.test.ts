import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startTestVault, type TestVault } from "../support/vault.js";
import { connectWatch, grpcWatch, sseWatch, type Watcher } from "../support/watchers.js";

const canary = "watch-canary-value-7f3a9c";

describe("WatchSecrets on one instance", () => {
  let v: TestVault;
  let token: string;
  const open: Watcher[] = [];
  const track = <W extends Watcher>(w: W) => (open.push(w), w);

  beforeAll(async () => {
    v = await startTestVault({ env: { SCAIVAULT_WATCH_MAX_STREAMS: "6" } });
    token = await v.token({ tenantId: "t1", scopes: ["secrets:read", "secrets:write", "secrets:delete", "secrets:rotate"] });
  }, 180_000);
  afterAll(async () => {
    for (const w of open) w.close();
    await v?.close();
  }, 60_000);

  const put = (path: string, value = canary) => v.rest("PUT", `/v1/secrets/${path}`, { token, body: { data: { password: value } } });

  it("streams created, updated, rotated, deleted and restored over gRPC, gRPC-web, Connect and SSE, never a value", async () => {
    const watchers = [
      track(grpcWatch(v.port, token, { prefix: "life/" })),
      track(connectWatch(v.baseUrl, token, { prefix: "life/" })),
      track(sseWatch(v.baseUrl, token, { prefix: "life/" })),
      track(connectWatch(v.baseUrl, token, { prefix: "life/" }, "grpc-web")),
    ];
    await Promise.all(watchers.map((w) => w.live));
    expect((await put("life/db")).status).toBe(201);
    expect((await put("life/db")).status).toBe(200);
    expect((await v.rest("POST", "/v1/secrets/life/db/rotate", { token, body: { new_value: { password: canary + "2" } } })).status).toBe(200);
    expect((await put("other/db")).status).toBe(201); // outside the prefix
    expect((await v.rest("DELETE", "/v1/secrets/life/db", { token })).status).toBe(200);
    expect((await v.rest("POST", "/v1/secrets/life/db/restore", { token })).status).toBe(200);
    for (const w of watchers) {
      const events = await w.waitFor(5);
      expect(events.map((e) => [e.event_type, e.path, e.version, e.stage])).toEqual([
        ["secret.created", "life/db", 1, "current"],
        ["secret.updated", "life/db", 2, "current"],
        ["rotation.completed", "life/db", 3, "current"],
        ["secret.deleted", "life/db", 3, ""],
        ["secret.restored", "life/db", 3, "current"],
      ]);
      expect(events.every((e) => /^evt_[0-9a-f]{32}$/.test(e.event_id))).toBe(true);
      expect(JSON.stringify(events)).not.toContain(canary);
    }
    // The same event ids on every protocol.
    expect(watchers[0]!.events.map((e) => e.event_id)).toEqual(watchers[2]!.events.map((e) => e.event_id));
    for (const w of watchers) w.close();
  }, 60_000);

  it("resumes after a disconnect with exactly the events it missed (SSE Last-Event-ID and gRPC cursor)", async () => {
    const first = track(sseWatch(v.baseUrl, token, { prefix: "resume/" }));
    await first.live;
    await put("resume/a");
    const [seen] = await first.waitFor(1);
    first.close();
    await first.ended;
    for (let i = 0; i < 3; i++) expect((await put("resume/a")).status).toBe(200);

    const sse = track(sseWatch(v.baseUrl, token, { prefix: "resume/", lastEventId: seen!.event_id }));
    const grpcResumed = track(grpcWatch(v.port, token, { prefix: "resume/", cursor: seen!.event_id }));
    await Promise.all([sse.live, grpcResumed.live]);
    await put("resume/marker");
    for (const w of [sse, grpcResumed]) {
      const events = await w.waitFor(4);
      expect(events.map((e) => `${e.event_type} ${e.path} v${e.version}`)).toEqual([
        "secret.updated resume/a v2",
        "secret.updated resume/a v3",
        "secret.updated resume/a v4",
        "secret.created resume/marker v1",
      ]);
      w.close();
    }
  }, 60_000);

  it("never shows another tenant's writes", async () => {
    const other = await v.token({ tenantId: "t2", scopes: ["secrets:read", "secrets:write"] });
    const w = track(grpcWatch(v.port, token, { prefix: "" }));
    await w.live;
    expect((await v.rest("PUT", "/v1/secrets/iso/secret", { token: other, body: { data: { password: canary } } })).status).toBe(201);
    expect((await put("iso/marker")).status).toBe(201);
    const [event] = await w.waitFor(1);
    expect(event!.path).toBe("iso/marker");
    expect(w.events.some((e) => e.path === "iso/secret")).toBe(false);
    // A cursor of another tenant's event is refused like one that never existed.
    const theirs = track(sseWatch(v.baseUrl, other, { prefix: "" }));
    await theirs.live;
    await v.rest("PUT", "/v1/secrets/iso/secret", { token: other, body: { data: { password: "x" } } });
    const [theirEvent] = await theirs.waitFor(1);
    const stolen = sseWatch(v.baseUrl, token, { prefix: "", lastEventId: theirEvent!.event_id });
    expect(await stolen.status).toBe(400);
    expect((await stolen.errorBody).error.code).toBe("invalid_request");
    w.close();
    theirs.close();
  }, 60_000);

  it("answers the contract's errors: no token, missing scope, bad prefix, the stream limit", async () => {
    const anonymous = sseWatch(v.baseUrl, undefined, { prefix: "" });
    expect(await anonymous.status).toBe(401);
    expect(await grpcWatch(v.port, "not-a-token", { prefix: "" }).ended).toBe("UNAUTHENTICATED");
    const auditor = await v.token({ tenantId: "t1", scopes: ["audit:read"] });
    const denied = sseWatch(v.baseUrl, auditor, { prefix: "" });
    expect(await denied.status).toBe(403);
    expect((await denied.errorBody).error.code).toBe("access_denied");
    const bad = sseWatch(v.baseUrl, token, { prefix: "a b" });
    expect(await bad.status).toBe(400);

    const held = Array.from({ length: 6 }, () => track(sseWatch(v.baseUrl, token, { prefix: "limit/" })));
    await Promise.all(held.map((w) => w.live));
    const refused = sseWatch(v.baseUrl, token, { prefix: "limit/" });
    expect(await refused.status).toBe(429);
    expect((await refused.errorBody).error.code).toBe("rate_limited");
    expect(await grpcWatch(v.port, token, { prefix: "limit/" }).ended).toBe("RESOURCE_EXHAUSTED");
    for (const w of held) w.close();
  }, 60_000);

  it("ends a stream with UNAUTHENTICATED when its token expires", async () => {
    const shortLived = await v.token({ tenantId: "t1", scopes: ["secrets:read"], ttlSeconds: 2 });
    const grpcW = track(grpcWatch(v.port, shortLived, { prefix: "" }));
    const sse = track(sseWatch(v.baseUrl, shortLived, { prefix: "" }));
    await Promise.all([grpcW.live, sse.live]);
    expect(await grpcW.ended).toBe("UNAUTHENTICATED");
    expect(await sse.ended).toBe("unauthenticated");
  }, 30_000);
});

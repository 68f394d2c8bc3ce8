// The protocol subset every fetch-style runtime must serve, run from Node against the service
// started under that runtime (test/runtimes/deno.test.ts, bun.test.ts).
import { Code, ConnectError, createClient } from "@connectrpc/connect";
import { createConnectTransport, createGrpcWebTransport } from "@connectrpc/connect-node";
import * as grpc from "@grpc/grpc-js";
import http from "node:http";
import nodeVault from "node-vault";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { createScaiVaultClient, isScaiVaultError } from "../../clients/typescript/src/index.js";
import { ErrorInfoSchema } from "../../gen/google/rpc/error_details_pb.js";
import { SecretsService } from "../../gen/scaivault/v1/secrets_pb.js";
import { mintToken } from "../../src/auth/mint-token.js";
import { systemClock } from "../../src/clock.js";
import { generateWebhookSecret } from "../../src/webhooks/signature.js";
import { testDatabaseKind } from "../support/database.js";
import { grpcClient, unary } from "../support/grpc.js";
import { testJwtSecret } from "../support/vault.js";
import { startReceiver, type Receiver } from "../webhooks/receiver.js";
import { startRuntimeService, type Runtime, type RuntimeService } from "./runtime-process.js";

export function describeServiceUnder(runtime: Runtime) {
  describe(`ScaiVault under ${runtime} on the ${testDatabaseKind} database`, () => {
    let service: RuntimeService;
    let receiver: Receiver;
    let token: string;
    const webhookSecret = generateWebhookSecret();
    const auth = () => ({ headers: { authorization: `Bearer ${token}` } });

    async function rest(method: string, path: string, body?: unknown) {
      const res = await fetch(service.baseUrl + path, {
        method,
        headers: { authorization: `Bearer ${token}`, ...(body === undefined ? {} : { "content-type": "application/json" }) },
        body: body === undefined ? undefined : JSON.stringify(body),
      });
      return { status: res.status, body: (await res.json()) as any };
    }

    beforeAll(async () => {
      receiver = await startReceiver({ secret: webhookSecret, clock: systemClock });
      service = await startRuntimeService(runtime, { SCAIVAULT_WEBHOOK_ALLOW_HOSTS: "127.0.0.1", SCAIVAULT_WEBHOOK_POLL: "1s", SCAIVAULT_SCHEDULER_TICK: "1s" });
      token = await mintToken(testJwtSecret, { tenantId: runtime, scopes: ["admin", "audit:read"], sub: "runtime-test" });
    });
    afterAll(async () => {
      await service?.close();
      await receiver?.close();
    });

    it("runs on the database of this run, with every protocol but native gRPC", () => {
      const listening = service.logs.find((l) => l.msg === "scaivault listening")!;
      expect(listening).toMatchObject({ runtime, database: service.databaseKind, protocols: ["grpc-web", "connect", "rest"] });
      expect(service.databaseKind).toBe(testDatabaseKind);
    });

    it("REST: put, get, list, rotate", async () => {
      expect((await rest("PUT", "/v1/secrets/rt/rest/a", { data: { password: "one" } })).status).toBe(201);
      expect((await rest("PUT", "/v1/secrets/rt/rest/b", { data: { password: "two" } })).status).toBe(201);
      const got = await rest("GET", "/v1/secrets/rt/rest/a");
      expect(got).toMatchObject({ status: 200, body: { path: "rt/rest/a", version: 1, data: { password: "one" } } });
      const list = await rest("GET", "/v1/secrets?prefix=rt/rest/");
      expect(list.body.secrets.map((s: { path: string }) => s.path)).toEqual(["rt/rest/a", "rt/rest/b"]);
      const rotated = await rest("POST", "/v1/secrets/rt/rest/a/rotate", { new_value: { password: "three" }, reason: "runtime test" });
      expect(rotated.status).toBe(200);
      expect((await rest("GET", "/v1/secrets/rt/rest/a")).body).toMatchObject({ version: 2, data: { password: "three" } });
    });

    it("REST errors carry the contract's code", async () => {
      const missing = await rest("GET", "/v1/secrets/rt/none");
      expect(missing.status).toBe(404);
      expect(missing.body.error.code).toBe("secret_not_found");
    });

    it("Connect JSON (plain fetch): put and get, an error with its ErrorInfo", async () => {
      const base = `${service.baseUrl}/scaivault.v1.SecretsService`;
      const headers = { "content-type": "application/json", authorization: `Bearer ${token}` };
      const put = await fetch(`${base}/PutSecret`, { method: "POST", headers, body: JSON.stringify({ path: "rt/json", data: { via: "json" } }) });
      expect(put.status).toBe(200);
      expect(await put.json()).toMatchObject({ path: "rt/json", version: 1, created: true });
      const get = await fetch(`${base}/GetSecret`, { method: "POST", headers, body: JSON.stringify({ path: "rt/json" }) });
      expect(await get.json()).toMatchObject({ path: "rt/json", data: { via: "json" }, expires_at: null });
      const missing = await fetch(`${base}/GetSecret`, { method: "POST", headers, body: JSON.stringify({ path: "rt/none" }) });
      expect(missing.status).toBe(404);
      const err = (await missing.json()) as { code: string; details: Array<{ type: string }> };
      expect(err.code).toBe("not_found");
      expect(err.details.map((d) => d.type)).toContain("google.rpc.ErrorInfo");
    });

    for (const [name, transport] of [
      ["Connect binary", (baseUrl: string) => createConnectTransport({ baseUrl, httpVersion: "1.1", useBinaryFormat: true })],
      ["gRPC-web", (baseUrl: string) => createGrpcWebTransport({ baseUrl, httpVersion: "1.1" })],
    ] as const) {
      it(`${name}: put, get, list, rotate, and an error with its ErrorInfo`, async () => {
        const client = createClient(SecretsService, transport(service.baseUrl));
        const prefix = `rt/${name.replace(/\W/g, "")}/`;
        expect((await client.putSecret({ path: `${prefix}x`, data: { via: name } }, auth())).version).toBe(1);
        expect((await client.getSecret({ path: `${prefix}x` }, auth())).data).toEqual({ via: name });
        const list = await client.listSecrets({ prefix }, auth());
        expect(list.secrets.map((s) => s.path)).toEqual([`${prefix}x`]);
        const rotated = await client.rotateSecret({ path: `${prefix}x`, newValue: { via: "rotated" } }, auth());
        expect(rotated.version).toBe(2);
        const err = await client.getSecret({ path: `${prefix}none` }, auth()).then(
          () => undefined,
          (e: unknown) => ConnectError.from(e),
        );
        expect(err?.code).toBe(Code.NotFound);
        expect(err?.findDetails(ErrorInfoSchema)[0]?.reason).toBe("secret_not_found");
      });
    }

    it("@scaivault/client over Connect", async () => {
      const vault = createScaiVaultClient({ baseUrl: service.baseUrl, token, protocol: "connect" });
      await vault.secrets.put("rt/client/db", { password: "s3cret" }, { tags: ["db"] });
      const { data, version } = await vault.secrets.get<{ password: string }>("rt/client/db");
      expect({ data, version }).toEqual({ data: { password: "s3cret" }, version: 1 });
      const paths: string[] = [];
      for await (const row of vault.secrets.list({ prefix: "rt/client/" })) paths.push(row.path);
      expect(paths).toEqual(["rt/client/db"]);
      const err = await vault.secrets.get("rt/client/none").catch((e: unknown) => e);
      expect(isScaiVaultError(err) && err.code).toBe("secret_not_found");
    });

    // Bun.serve (1.4) closes the connection on a `LIST` request line before the app sees it (its
    // parser knows PROPFIND or PURGE, not LIST), so under Bun node-vault lists with `GET ?list=1`.
    const listing = runtime === "bun" ? "GET ?list=1 (noCustomHTTPVerbs)" : "the LIST method";
    it(`the Vault dialect: node-vault writes, reads and lists with ${listing}, on kept-alive connections`, async () => {
      const vault = nodeVault({ endpoint: service.baseUrl, token, noCustomHTTPVerbs: runtime === "bun" });
      expect((await vault.write("secret/data/rt/vault/a", { data: { k: "a" } })).data.version).toBe(1);
      await vault.write("secret/data/rt/vault/sub/b", { data: { k: "b" } });
      for (let i = 0; i < 2; i++) {
        expect((await vault.list("secret/metadata/rt/vault")).data.keys).toEqual(["a", "sub/"]);
        expect((await vault.read("secret/data/rt/vault/a")).data.data).toEqual({ k: "a" });
      }
      const raw = await fetch(`${service.baseUrl}/v1/secret/metadata/rt/vault/sub?list=true`, { headers: { "x-vault-token": token } });
      expect(((await raw.json()) as any).data.keys).toEqual(["b"]);
      const empty = await vault.list("secret/metadata/rt/none").catch((e: { response?: { statusCode: number } }) => e.response?.statusCode);
      expect(empty).toBe(404);
    });

    it("native gRPC is refused with a clear status (it needs HTTP/2 trailers)", async () => {
      const client = grpcClient(service.port, "SecretsService", "secrets.proto");
      try {
        const err = (await unary(client, "GetSecret", { path: "rt/rest/a" }, token).catch((e: unknown) => e)) as grpc.ServiceError;
        if (runtime === "deno") {
          // Deno.serve speaks cleartext HTTP/2, so the call reaches the app, which answers trailers-only.
          expect(err.code).toBe(grpc.status.UNIMPLEMENTED);
          expect(err.details).toContain("gRPC-web or Connect");
        } else {
          // Bun.serve has no cleartext HTTP/2: the gRPC client cannot even open its connection.
          expect(err.code).toBe(grpc.status.UNAVAILABLE);
        }
      } finally {
        client.close();
      }
    });

    it("delivers a signed webhook to a receiver on loopback (the background worker runs)", async () => {
      const created = await rest("POST", "/v1/webhooks", { name: "rt-hook", url: receiver.url, secret: webhookSecret, events: ["secret.created"] });
      expect(created.status).toBe(201);
      expect((await rest("PUT", "/v1/secrets/rt/hooked", { data: { password: "never-in-a-webhook" } })).status).toBe(201);
      await vi.waitFor(() => expect(receiver.received.some((d) => d.event?.path === "rt/hooked")).toBe(true), { timeout: 30_000, interval: 200 });
      const delivery = receiver.received.find((d) => d.event?.path === "rt/hooked")!;
      expect(delivery.verifyError).toBeUndefined();
      expect(delivery.event).toMatchObject({ event_type: "secret.created", tenant_id: runtime });
      expect(delivery.body).not.toContain("never-in-a-webhook");
    });

    it("runs the rotation scheduler: a warning threshold crossed reaches a webhook as rotation.due", async () => {
      const hook = await rest("POST", "/v1/webhooks", { name: "rt-due", url: `${receiver.url}?due`, secret: webhookSecret, events: ["rotation.due"] });
      expect(hook.status).toBe(201);
      expect((await rest("PUT", "/v1/secrets/rt/rotating", { data: { password: "p" } })).status).toBe(201);
      // Due in an hour, warned 3599 s before: the first scheduler tick after a second sends the warning.
      const policy = await rest("POST", "/v1/rotation/policies", { name: "hourly", interval: "1h", warn_before: "3599s" });
      expect(policy.status).toBe(201);
      expect((await rest("POST", `/v1/rotation/policies/${policy.body.id}/secrets`, { secret_path: "rt/rotating" })).status).toBe(201);
      const warned = () => receiver.received.find((d) => d.event?.event_type === "rotation.due" && d.event.path === "rt/rotating");
      await vi.waitFor(() => expect(warned()).toBeDefined(), { timeout: 30_000, interval: 200 });
      expect(warned()!.verifyError).toBeUndefined();
      expect(warned()!.event.data).toMatchObject({ policy_name: "hourly", due_now: false });
    });

    it("SIGTERM: finishes a call in flight, stops the jobs, closes the database, exits 0", async () => {
      // A PUT whose body is still arriving when the signal comes: the service must wait for it.
      const body = JSON.stringify({ data: { password: "written-during-shutdown" } });
      let inFlight!: http.ClientRequest;
      const answered = new Promise<{ status: number; body: string }>((resolve, reject) => {
        const req = http.request(`${service.baseUrl}/v1/secrets/rt/shutdown`, {
          method: "PUT",
          headers: { authorization: `Bearer ${token}`, "content-type": "application/json", "content-length": Buffer.byteLength(body) },
        });
        req.on("response", (res) => {
          let text = "";
          res.setEncoding("utf8").on("data", (c: string) => (text += c));
          res.on("end", () => resolve({ status: res.statusCode!, body: text }));
        });
        req.on("error", reject);
        req.write(body.slice(0, 10));
        inFlight = req;
      });
      await new Promise((resolve) => setTimeout(resolve, 1000)); // the head reaches the service (not a timing assertion)
      const exited = service.stop("SIGTERM");
      await vi.waitFor(() => expect(service.logs.some((l) => l.msg === "shutting down")).toBe(true));
      inFlight.end(body.slice(10));
      const answer = await answered;
      expect(answer).toMatchObject({ status: 201 });
      expect(await exited).toBe(0);
      const messages = service.logs.map((l) => l.msg);
      expect(messages).toContain("read audit group commit"); // logged by close(), after the jobs stopped
      expect(messages.at(-1)).toBe("stopped");
      await expect(fetch(`${service.baseUrl}/healthz`)).rejects.toThrow();
    });
  });
}

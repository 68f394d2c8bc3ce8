// The sender against servers on 127.0.0.1 only; host names go through a fake resolver, never DNS.
import type dns from "node:dns";
import http from "node:http";
import type { AddressInfo } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createAllowList } from "../../src/outbound/ssrf-guard.js";
import { createWebhookSender } from "../../src/outbound/webhook-sender.js";

type Handler = (req: http.IncomingMessage, res: http.ServerResponse) => void;

async function listen(handler: Handler) {
  const hits: { host?: string; url?: string }[] = [];
  const server = http.createServer((req, res) => {
    hits.push({ host: req.headers.host, url: req.url });
    handler(req, res);
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const port = (server.address() as AddressInfo).port;
  return {
    hits,
    port,
    close: () => {
      server.closeAllConnections();
      return new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

/** A resolver that answers every name with the given addresses. */
const resolveTo = (addresses: string[]) =>
  ((_host: string, _opts: unknown, cb: (err: Error | null, found: dns.LookupAddress[]) => void) =>
    cb(null, addresses.map((address) => ({ address, family: address.includes(":") ? 6 : 4 })))) as unknown as typeof dns.lookup;

describe("webhook sender", () => {
  const allow = createAllowList(["127.0.0.1"]);
  let ok: Awaited<ReturnType<typeof listen>>;
  let silent: Awaited<ReturnType<typeof listen>>;
  let redirect: Awaited<ReturnType<typeof listen>>;
  beforeAll(async () => {
    ok = await listen((_req, res) => res.writeHead(202).end("accepted"));
    silent = await listen(() => {}); // never answers
    redirect = await listen((_req, res) => res.writeHead(302, { location: `http://127.0.0.1:${ok.port}/elsewhere` }).end());
  });
  afterAll(async () => {
    await ok.close();
    await silent.close();
    await redirect.close();
  });

  it("posts the body with the signature headers and reports the status", async () => {
    const sender = createWebhookSender({ timeoutMs: 5000, allow });
    const r = await sender.send(`http://127.0.0.1:${ok.port}/hook`, { "webhook-id": "evt_1" }, "{}");
    expect(r.statusCode).toBe(202);
    expect(r.error).toBeUndefined();
  });

  it("measures the latency of the answer (at least the receiver's own delay)", async () => {
    const slow = await listen((_req, res) => void setTimeout(() => res.writeHead(204).end(), 120));
    try {
      const r = await createWebhookSender({ timeoutMs: 5000, allow }).send(`http://127.0.0.1:${slow.port}/hook`, {}, "{}");
      expect(r.statusCode).toBe(204);
      // A lower bound only: a loaded machine can make it longer, never shorter.
      expect(r.latencyMs).toBeGreaterThanOrEqual(110);
    } finally {
      await slow.close();
    }
  });

  it("gives up after the timeout", async () => {
    const sender = createWebhookSender({ timeoutMs: 200, allow });
    const r = await sender.send(`http://127.0.0.1:${silent.port}/hook`, {}, "{}");
    expect(r.statusCode).toBeUndefined();
    expect(r.error).toBe("timed out after 200 ms");
    expect(silent.hits).toHaveLength(1);
  });

  it("does not follow redirects: a 3xx is a failed attempt", async () => {
    const before = ok.hits.length;
    const r = await createWebhookSender({ timeoutMs: 5000, allow }).send(`http://127.0.0.1:${redirect.port}/hook`, {}, "{}");
    expect(r.statusCode).toBe(302);
    expect(ok.hits.length).toBe(before);
  });

  it("refuses a loopback target outside the allow-list before connecting", async () => {
    const r = await createWebhookSender({ timeoutMs: 5000, allow }).send("http://127.0.0.2:9/hook", {}, "{}");
    expect(r.error).toMatch(/^refused: url host 127\.0\.0\.2 is a loopback address/);
    const none = await createWebhookSender({ timeoutMs: 5000, allow: createAllowList([]) }).send(`http://127.0.0.1:${ok.port}/hook`, {}, "{}");
    expect(none.error).toMatch(/^refused:/);
  });

  it("checks the resolved address and connects to exactly that one (DNS rebinding cannot slip through)", async () => {
    const refused = await createWebhookSender({ timeoutMs: 5000, allow, resolve: resolveTo(["127.0.0.2"]) }).send(`http://rebind.invalid:${ok.port}/hook`, {}, "{}");
    expect(refused.error).toMatch(/^refused: url host rebind\.invalid is resolving to a loopback address/);
    const mixed = await createWebhookSender({ timeoutMs: 5000, allow, resolve: resolveTo(["127.0.0.1", "10.0.0.8"]) }).send(`http://rebind.invalid:${ok.port}/hook`, {}, "{}");
    expect(mixed.error).toMatch(/private address/);
    const before = ok.hits.length;
    const checked = await createWebhookSender({ timeoutMs: 5000, allow, resolve: resolveTo(["127.0.0.1"]) }).send(`http://rebind.invalid:${ok.port}/hook`, {}, "{}");
    expect(checked.statusCode).toBe(202);
    expect(ok.hits.slice(before)).toEqual([{ host: `rebind.invalid:${ok.port}`, url: "/hook" }]);
  });
});

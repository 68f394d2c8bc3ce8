// A real webhook receiver for tests: listens on 127.0.0.1 only, verifies every delivery's
// signature with the public verify function, and answers what the test tells it to.
import http from "node:http";
import type { AddressInfo } from "node:net";
import type { Clock } from "../../src/clock.js";
import { verifyWebhook } from "../../src/webhooks/signature.js";
import type { TestVault } from "../support/vault.js";

/** One request as the receiver saw it. */
export interface ReceivedDelivery {
  /** The request path and query (which webhook it was for, when they share a receiver). */
  target: string;
  id: string;
  timestamp: number;
  signature: string;
  body: string;
  /** The verified, parsed envelope; undefined when verification failed. */
  event?: any;
  verifyError?: string;
  status: number;
}

export type Responder = (delivery: ReceivedDelivery) => { status: number; headers?: Record<string, string> } | Promise<{ status: number; headers?: Record<string, string> }>;

export interface Receiver {
  url: string;
  port: number;
  received: ReceivedDelivery[];
  respond(responder: Responder): void;
  /** Stops listening: connections are refused until `reopen`. */
  close(): Promise<void>;
  reopen(): Promise<void>;
}

/** Starts a receiver on 127.0.0.1 that verifies signatures against `secret` at the vault's clock time. */
export async function startReceiver(options: { secret: string; clock: Clock; path?: string }): Promise<Receiver> {
  const received: ReceivedDelivery[] = [];
  let responder: Responder = () => ({ status: 200 });
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", async () => {
      const body = Buffer.concat(chunks).toString("utf8");
      const delivery: ReceivedDelivery = {
        target: req.url ?? "",
        id: String(req.headers["webhook-id"] ?? ""),
        timestamp: Number(req.headers["webhook-timestamp"]),
        signature: String(req.headers["webhook-signature"] ?? ""),
        body,
        status: 0,
      };
      try {
        delivery.event = verifyWebhook(options.secret, req.headers, body, { now: options.clock.now() });
      } catch (err) {
        delivery.verifyError = (err as Error).message;
      }
      const answer = delivery.verifyError ? { status: 401 } : await responder(delivery);
      delivery.status = answer.status;
      received.push(delivery);
      res.writeHead(answer.status, { "content-type": "application/json", ...answer.headers });
      res.end(JSON.stringify({ ok: answer.status < 300 }));
    });
  });
  const listen = (port: number) => new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(port, "127.0.0.1", () => {
      server.off("error", reject);
      resolve();
    });
  });
  await listen(0);
  const port = (server.address() as AddressInfo).port;
  return {
    url: `http://127.0.0.1:${port}${options.path ?? "/hook"}`,
    port,
    received,
    respond(r) {
      responder = r;
    },
    async close() {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
    reopen: () => listen(port),
  };
}

/** Runs the dispatcher and the delivery worker until nothing is ready at the current clock time. */
export async function drain(tv: TestVault): Promise<{ events: number; attempts: number }> {
  const worker = tv.vault.webhookDelivery;
  let events = 0;
  let attempts = 0;
  for (;;) {
    const d = await worker.runDispatchOnce();
    events += d.events;
    if (d.events === 0) break;
  }
  for (;;) {
    const r = await worker.runDeliveryOnce();
    attempts += r.attempted;
    if (r.claimed === 0) break;
  }
  return { events, attempts };
}

/** Environment every webhook test server runs with: local receivers allowed, background timer out of the way. */
export const webhookTestEnv = { SCAIVAULT_WEBHOOK_ALLOW_HOSTS: "127.0.0.1", SCAIVAULT_WEBHOOK_POLL: "1h" };

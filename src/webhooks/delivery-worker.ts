// The webhooks' side of the outbox, in two steps each safe to run on several replicas at once:
// dispatch fans committed events out to every kind of target (webhooks, and the notification
// channels given in `alsoFanOut`) exactly once, and delivery sends each webhook its signed
// envelope through the outbound delivery worker.
import type { Clock } from "../clock.js";
import type { Envelope } from "../crypto/envelope.js";
import { inTransaction, type Db } from "../db/database.js";
import type { Logger } from "../log.js";
import { dispatchEvents, type FanOut, type OutboxEventRow } from "../outbound/delivery-queue.js";
import { createDeliveryWorker, createPoller } from "../outbound/delivery-worker.js";
import type { WebhookSender } from "../outbound/webhook-sender.js";
import { webhookEnvelope } from "../outbound/event-envelope.js";
import { webhookHeaders } from "./signature.js";
import { webhookSecretAad } from "./webhooks-service.js";
import * as store from "./webhooks-store.js";

export type { DeliveryRound } from "../outbound/delivery-worker.js";

export interface WebhookDeliveryDeps {
  db: Db;
  envelope: Envelope;
  clock: Clock;
  logger: Logger;
  sender: WebhookSender;
  /** Jitter source for retry delays, in [0, 1). */
  random?: () => number;
  /** How long a claim lasts; must outlast one send (the timeout) with room to record it. */
  claimSeconds?: number;
  /** Deliveries claimed and sent concurrently per round. */
  batchSize?: number;
  /** Outbox events fanned out per transaction. */
  dispatchBatchSize?: number;
  /** Other consumers of the outbox fanned out in the same transaction (notification channels). */
  alsoFanOut?: readonly FanOut[];
}

/** Creates the dispatcher and delivery worker; `start` runs both on a timer, tests call the `run*Once` steps directly. */
export function createWebhookDelivery(deps: WebhookDeliveryDeps) {
  const { db, envelope, clock, logger, sender } = deps;
  const dispatchBatchSize = deps.dispatchBatchSize ?? 100;
  const fanOuts = [store.fanOutToWebhooks, ...(deps.alsoFanOut ?? [])];

  /** Fans out one batch of undispatched events in one transaction. */
  async function runDispatchOnce(): Promise<{ events: number; deliveries: number }> {
    return inTransaction(db, (tx) => dispatchEvents(tx, clock.now(), dispatchBatchSize, fanOuts));
  }

  /** Signs the event's envelope with the webhook's key and posts it. */
  async function send(webhook: store.WebhookRow, event: OutboxEventRow, attemptedAt: Date) {
    const key = await envelope.decrypt(db, webhook.tenant_id, webhookSecretAad(webhook.tenant_id, webhook.id), {
      keyId: webhook.secret_key_id,
      nonce: webhook.secret_nonce,
      ciphertext: webhook.secret_ciphertext,
    });
    const body = JSON.stringify(webhookEnvelope(event));
    // webhook-id is the event id, the same on every retry: the receiver's idempotency key.
    const headers = webhookHeaders(key, event.id, Math.floor(attemptedAt.getTime() / 1000), body);
    key.fill(0);
    return sender.send(webhook.url, headers, body);
  }

  const worker = createDeliveryWorker({
    db,
    clock,
    logger,
    queue: store.webhookQueue,
    label: "webhook",
    findTarget: store.findWebhook,
    send,
    gone: {
      statusCode: 410,
      error: "HTTP 410 Gone: the webhook was disabled",
      log: "webhook endpoint gone; webhook disabled",
      disable: (tx, claim, now) => store.disableWebhook(tx, claim.tenant_id, claim.target_id, now),
    },
    random: deps.random,
    claimSeconds: deps.claimSeconds,
    batchSize: deps.batchSize,
  });

  /** Dispatches and delivers until nothing more is ready (bounded, so one tick stays short). */
  async function tick(): Promise<void> {
    try {
      for (let i = 0; i < 10 && (await runDispatchOnce()).events === dispatchBatchSize; i++);
      await worker.runUntilDrained();
    } catch (err) {
      logger.error("webhook delivery round failed", { err });
    }
  }

  return { runDispatchOnce, runDeliveryOnce: worker.runDeliveryOnce, ...createPoller(tick) };
}

export type WebhookDelivery = ReturnType<typeof createWebhookDelivery>;

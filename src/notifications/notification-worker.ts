// The channels' side of the outbox: the outbound delivery worker, sending each event as a message
// for people (SMTP, or a Slack webhook behind the SSRF guard) with the webhooks' backoff. The
// dispatcher (the webhook worker's) fans events out to channels.
import type { Clock } from "../clock.js";
import type { Envelope } from "../crypto/envelope.js";
import type { Db } from "../db/database.js";
import type { Logger } from "../log.js";
import type { OutboxEventRow } from "../outbound/delivery-queue.js";
import { createDeliveryWorker, createPoller } from "../outbound/delivery-worker.js";
import type { SendResult, WebhookSender } from "../outbound/webhook-sender.js";
import { webhookEnvelope } from "../outbound/event-envelope.js";
import type { EmailSender } from "./email-sender.js";
import { slackUrlAad } from "./notification-channels-service.js";
import * as store from "./notification-channels-store.js";
import { emailTextOf, messageOf, slackPayloadOf } from "./notification-messages.js";

export interface NotificationWorkerDeps {
  db: Db;
  envelope: Envelope;
  clock: Clock;
  logger: Logger;
  email: EmailSender;
  /** Posts Slack payloads: the webhook sender, with its SSRF guard and timeout. */
  http: WebhookSender;
  publicUrl?: string;
  random?: () => number;
  claimSeconds?: number;
  batchSize?: number;
}

export function createNotificationWorker(deps: NotificationWorkerDeps) {
  const { db, envelope, logger } = deps;

  async function send(channel: store.ChannelRow, event: OutboxEventRow): Promise<SendResult> {
    const message = messageOf(webhookEnvelope(event), deps.publicUrl);
    if (channel.type === "email") {
      return deps.email.send({ to: channel.recipients, subject: message.title, text: emailTextOf(message, channel.tenant_id), urgent: message.urgent });
    }
    if (!channel.url_ciphertext || !channel.url_nonce || channel.url_key_id === null) return { error: "the channel has no webhook URL", latencyMs: 0 };
    const url = await envelope.decrypt(db, channel.tenant_id, slackUrlAad(channel.tenant_id, channel.id), {
      keyId: channel.url_key_id,
      nonce: channel.url_nonce,
      ciphertext: channel.url_ciphertext,
    });
    return deps.http.send(url.toString("utf8"), {}, JSON.stringify(slackPayloadOf(message)));
  }

  const worker = createDeliveryWorker({
    db,
    clock: deps.clock,
    logger,
    queue: store.channelQueue,
    label: "notification",
    findTarget: store.findChannel,
    send,
    // SMTP answers with its own codes (250): a send without an error is delivered.
    isDelivered: (sent, channel) => !sent.error && (channel.type === "email" || (sent.statusCode !== undefined && sent.statusCode >= 200 && sent.statusCode < 300)),
    random: deps.random,
    claimSeconds: deps.claimSeconds,
    batchSize: deps.batchSize,
  });

  const poller = createPoller(async () => {
    try {
      await worker.runUntilDrained();
    } catch (err) {
      logger.error("notification delivery round failed", { err });
    }
  });

  /** Stops the timer and waits for a running round, so every sent attempt is recorded. */
  async function stop(): Promise<void> {
    await poller.stop();
    deps.email.close();
  }

  return { runDeliveryOnce: worker.runDeliveryOnce, start: poller.start, stop };
}

export type NotificationWorker = ReturnType<typeof createNotificationWorker>;

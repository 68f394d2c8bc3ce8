// The channel side of the outbox: claims due channel deliveries, writes each event as a message
// for people, sends it (SMTP, or a Slack webhook behind the SSRF guard), and records every attempt
// with the webhooks' backoff. Claims are sent concurrently with a timeout each, so a dead channel
// only delays its own deliveries. The dispatcher (the webhook worker's) fans events out to channels.
import type { Clock } from "../clock.js";
import type { Envelope } from "../crypto/envelope.js";
import { inTransaction, type Db } from "../db/database.js";
import type { Logger } from "../log.js";
import { webhookEnvelope } from "../webhooks/delivery-worker.js";
import { nextAttemptAt, parseRetryAfter } from "../outbound/retry-schedule.js";
import * as webhookStore from "../webhooks/webhooks-store.js";
import type { WebhookSender } from "../outbound/webhook-sender.js";
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

type OutboxEventRow = Awaited<ReturnType<typeof webhookStore.findEvents>>[number];

/** One attempt's outcome before it is recorded. */
interface Sent {
  statusCode?: number;
  retryAfter?: string;
  error?: string;
  latencyMs: number;
}

export function createNotificationWorker(deps: NotificationWorkerDeps) {
  const { db, envelope, clock, logger } = deps;
  const claimMs = (deps.claimSeconds ?? 120) * 1000;
  const batchSize = deps.batchSize ?? 16;

  /** Claims one batch of due deliveries, sends them, records every attempt; returns how many were claimed. */
  async function runDeliveryOnce(): Promise<{ claimed: number; delivered: number; retrying: number; failed: number }> {
    const now = clock.now();
    const claims = await store.claimDueDeliveries(db, now, new Date(now.getTime() + claimMs), batchSize);
    const round = { claimed: claims.length, delivered: 0, retrying: 0, failed: 0 };
    if (claims.length === 0) return round;
    const events = new Map((await webhookStore.findEvents(db, [...new Set(claims.map((c) => c.event_id))])).map((e) => [e.id, e]));
    await Promise.all(
      claims.map(async (claim) => {
        try {
          const state = await attempt(claim, events.get(claim.event_id));
          if (state) round[state]++;
        } catch (err) {
          // Left claimed: the claim expires and a later round tries again (at least once).
          logger.error("notification attempt failed unexpectedly", { channel_id: claim.channel_id, event_id: claim.event_id, err });
        }
      }),
    );
    return round;
  }

  async function send(channel: store.ChannelRow, event: OutboxEventRow): Promise<Sent> {
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

  async function attempt(claim: store.ClaimedChannelDelivery, event: OutboxEventRow | undefined) {
    const channel = await store.findChannel(db, claim.tenant_id, claim.channel_id);
    if (!channel) return undefined; // deleted since the claim: its deliveries went with it
    const attemptedAt = clock.now();
    const sent: Sent = event ? await send(channel, event) : { error: "the event is no longer in the outbox", latencyMs: 0 };
    const finishedAt = clock.now();
    const status = sent.statusCode;
    const ok = !sent.error && (channel.type === "email" || (status !== undefined && status >= 200 && status < 300));
    let result: store.ChannelAttemptResult;
    if (ok) {
      result = { state: "delivered", attemptedAt, statusCode: status, latencyMs: sent.latencyMs };
    } else {
      const next = event ? nextAttemptAt(claim.attempts, finishedAt, { random: deps.random, retryAfterSeconds: parseRetryAfter(sent.retryAfter, finishedAt) }) : undefined;
      result = { state: next ? "retrying" : "failed", attemptedAt, statusCode: status, latencyMs: sent.latencyMs, error: sent.error ?? `HTTP ${status}`, nextRetryAt: next };
    }
    const recorded = await inTransaction(db, (tx) => store.recordAttempt(tx, claim, event?.event_type ?? "unknown", result));
    const fields = { tenant_id: claim.tenant_id, channel_id: claim.channel_id, event_id: claim.event_id, attempt: claim.attempts, status_code: status, error: result.error };
    if (!recorded) {
      logger.warn("notification attempt not recorded: its claim was taken over", fields);
      return undefined;
    }
    if (result.state === "failed") logger.warn("notification delivery failed", fields);
    else if (result.state === "retrying") logger.debug("notification attempt failed; will retry", { ...fields, next_retry_at: result.nextRetryAt });
    return result.state;
  }

  let timer: NodeJS.Timeout | undefined;
  let running: Promise<void> | undefined;
  let stopped = true;

  /** Runs a round every `pollMs`; rounds never overlap. */
  function start(pollMs: number): void {
    stopped = false;
    const schedule = () => {
      timer = setTimeout(async () => {
        running = (async () => {
          try {
            for (let i = 0; i < 10 && (await runDeliveryOnce()).claimed === batchSize; i++);
          } catch (err) {
            logger.error("notification delivery round failed", { err });
          }
        })();
        await running;
        running = undefined;
        if (!stopped) schedule();
      }, pollMs);
      timer.unref();
    };
    schedule();
  }

  /** Stops the timer and waits for a running round, so every sent attempt is recorded. */
  async function stop(): Promise<void> {
    stopped = true;
    clearTimeout(timer);
    await running;
    deps.email.close();
  }

  return { runDeliveryOnce, start, stop };
}

export type NotificationWorker = ReturnType<typeof createNotificationWorker>;

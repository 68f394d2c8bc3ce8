// The delivery side of the outbox. Two steps, each safe to run on several replicas at once:
// dispatch fans committed events out into per-webhook deliveries (exactly once), and delivery
// claims due deliveries, sends them outside any transaction, and records each attempt in a new
// transaction fenced by the attempt number. Every scheduling decision reads the injected clock.
import type { Clock } from "../clock.js";
import type { Envelope } from "../crypto/envelope.js";
import { inTransaction, type Db, type Tx } from "../db/database.js";
import type { Logger } from "../log.js";
import { nextAttemptAt, parseRetryAfter } from "../outbound/retry-schedule.js";
import { webhookHeaders } from "./signature.js";
import type { SendResult, WebhookSender } from "../outbound/webhook-sender.js";
import { webhookSecretAad } from "./webhooks-service.js";
import * as store from "./webhooks-store.js";

/** The JSON body receivers get: `{id, event_type, created_at, tenant_id, path, data}`. */
export interface WebhookEnvelope {
  id: string;
  event_type: string;
  created_at: string;
  tenant_id: string;
  path: string | null;
  data: Record<string, unknown>;
}

/** Builds the envelope of an outbox event (its `data` never holds a secret value). */
export function webhookEnvelope(event: { id: string; event_type: string; created_at: Date; tenant_id: string; path: string | null; data: unknown }): WebhookEnvelope {
  const data = typeof event.data === "string" ? JSON.parse(event.data) : event.data;
  return {
    id: event.id,
    event_type: event.event_type,
    created_at: rfc3339(event.created_at),
    tenant_id: event.tenant_id,
    path: event.path,
    data: (data ?? {}) as Record<string, unknown>,
  };
}

/** RFC 3339 UTC, without a fraction when there is none (`2026-04-23T14:00:00Z`). */
function rfc3339(date: Date): string {
  return date.toISOString().replace(/\.000Z$/, "Z");
}

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
  alsoFanOut?: readonly ((tx: Tx, eventIds: string[], now: Date) => Promise<number>)[];
}

/** The counts of one delivery round. */
export interface DeliveryRound {
  /** Deliveries this round claimed. */
  claimed: number;
  /** Attempts sent and recorded: delivered + retrying + failed. */
  attempted: number;
  delivered: number;
  retrying: number;
  failed: number;
  /** Attempts whose claim had been taken over by another worker: sent, not recorded. */
  stale: number;
}

type Outcome = "delivered" | "retrying" | "failed" | "stale";

/** Creates the dispatcher and delivery worker; `start` runs both on a timer, tests call the `run*Once` steps directly. */
export function createWebhookDelivery(deps: WebhookDeliveryDeps) {
  const { db, envelope, clock, logger, sender } = deps;
  const claimMs = (deps.claimSeconds ?? 120) * 1000;
  const batchSize = deps.batchSize ?? 16;
  const dispatchBatchSize = deps.dispatchBatchSize ?? 100;

  /** Fans out one batch of undispatched events in one transaction. */
  async function runDispatchOnce(): Promise<{ events: number; deliveries: number }> {
    return inTransaction(db, (tx) => store.dispatchEvents(tx, clock.now(), dispatchBatchSize, deps.alsoFanOut));
  }

  /** Claims one batch of due deliveries, sends them, records every attempt. */
  async function runDeliveryOnce(): Promise<DeliveryRound> {
    const now = clock.now();
    const claims = await store.claimDueDeliveries(db, now, new Date(now.getTime() + claimMs), batchSize);
    const round: DeliveryRound = { claimed: claims.length, attempted: 0, delivered: 0, retrying: 0, failed: 0, stale: 0 };
    if (claims.length === 0) return round;
    const events = new Map((await store.findEvents(db, [...new Set(claims.map((c) => c.event_id))])).map((e) => [e.id, e]));
    await Promise.all(
      claims.map(async (claim) => {
        let outcome: Outcome | undefined;
        try {
          outcome = await attempt(claim, events.get(claim.event_id));
        } catch (err) {
          // Left claimed: the claim expires and another round tries again (at least once).
          logger.error("webhook attempt failed unexpectedly", { webhook_id: claim.webhook_id, event_id: claim.event_id, err });
        }
        if (outcome === undefined) return;
        if (outcome !== "stale") round.attempted++;
        round[outcome]++;
      }),
    );
    return round;
  }

  async function attempt(claim: store.ClaimedDelivery, event: Awaited<ReturnType<typeof store.findEvents>>[number] | undefined): Promise<Outcome | undefined> {
    const webhook = await store.findWebhook(db, claim.tenant_id, claim.webhook_id);
    if (!webhook) return undefined; // deleted since the claim: its deliveries went with it
    const attemptedAt = clock.now();
    let sent: SendResult;
    let eventType = event?.event_type ?? "unknown";
    if (!event) {
      sent = { error: "the event is no longer in the outbox", latencyMs: 0 };
    } else {
      const key = await envelope.decrypt(db, webhook.tenant_id, webhookSecretAad(webhook.tenant_id, webhook.id), {
        keyId: webhook.secret_key_id,
        nonce: webhook.secret_nonce,
        ciphertext: webhook.secret_ciphertext,
      });
      const body = JSON.stringify(webhookEnvelope(event));
      // webhook-id is the event id, the same on every retry: the receiver's idempotency key.
      const headers = webhookHeaders(key, event.id, Math.floor(attemptedAt.getTime() / 1000), body);
      key.fill(0);
      sent = await sender.send(webhook.url, headers, body);
      eventType = event.event_type;
    }
    const finishedAt = clock.now();
    const status = sent.statusCode;
    let result: store.AttemptResult;
    if (status !== undefined && status >= 200 && status < 300) {
      result = { state: "delivered", attemptedAt, statusCode: status, latencyMs: sent.latencyMs };
    } else {
      const gone = status === 410;
      const next = gone || !event ? undefined : nextAttemptAt(claim.attempts, finishedAt, { random: deps.random, retryAfterSeconds: parseRetryAfter(sent.retryAfter, finishedAt) });
      result = {
        state: next ? "retrying" : "failed",
        attemptedAt,
        statusCode: status,
        latencyMs: sent.latencyMs,
        error: sent.error ?? (gone ? "HTTP 410 Gone: the webhook was disabled" : `HTTP ${status}`),
        nextRetryAt: next,
      };
    }
    const recorded = await inTransaction(db, async (tx) => {
      if (!(await store.recordAttempt(tx, claim, eventType, result))) return false;
      if (status === 410) await store.disableWebhook(tx, webhook.tenant_id, webhook.id, finishedAt);
      return true;
    });
    const fields = { tenant_id: claim.tenant_id, webhook_id: claim.webhook_id, event_id: claim.event_id, attempt: claim.attempts, status_code: status, error: result.error };
    if (!recorded) {
      logger.warn("webhook attempt not recorded: its claim was taken over", fields);
      return "stale";
    }
    if (result.state === "failed") logger.warn(status === 410 ? "webhook endpoint gone; webhook disabled" : "webhook delivery failed", fields);
    else if (result.state === "retrying") logger.debug("webhook attempt failed; will retry", { ...fields, next_retry_at: result.nextRetryAt });
    return result.state;
  }

  /** Dispatches and delivers until nothing more is ready (bounded, so one tick stays short). */
  async function tick(): Promise<void> {
    try {
      for (let i = 0; i < 10 && (await runDispatchOnce()).events === dispatchBatchSize; i++);
      for (let i = 0; i < 10 && (await runDeliveryOnce()).claimed === batchSize; i++);
    } catch (err) {
      logger.error("webhook delivery round failed", { err });
    }
  }

  let timer: NodeJS.Timeout | undefined;
  let running: Promise<void> | undefined;
  let stopped = true;

  /** Runs a round every `pollMs`; rounds never overlap (the next is scheduled when one ends). */
  function start(pollMs: number): void {
    stopped = false;
    const schedule = () => {
      timer = setTimeout(async () => {
        running = tick();
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
  }

  return { runDispatchOnce, runDeliveryOnce, start, stop };
}

export type WebhookDelivery = ReturnType<typeof createWebhookDelivery>;

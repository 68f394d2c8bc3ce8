import { create } from "@bufbuild/protobuf";
import type { ServiceImpl } from "@connectrpc/connect";
import {
  DeleteNotificationChannelResponseSchema,
  ListNotificationChannelsResponseSchema,
  ListNotificationDeliveriesResponseSchema,
  NotificationChannelSchema,
  NotificationDeliverySchema,
  TestNotificationChannelResponseSchema,
  type NotificationChannelConfig,
  type NotificationChannelService as NotificationChannelServiceDesc,
} from "../../gen/scaivault/v1/notifications_pb.js";
import { httpCodeHeader } from "../auth/principal.js";
import { callOf, stringListOf, tsOf } from "../handler-support.js";
import type { NotificationChannelsService } from "./notification-channels-service.js";
import type { AttemptRow } from "../outbound/delivery-queue.js";
import type { ChannelRow } from "./notification-channels-store.js";

/** Thin handlers: read the call, call the service, build the reply. The Slack URL never leaves. */
export function createNotificationChannelsHandler(service: NotificationChannelsService): ServiceImpl<typeof NotificationChannelServiceDesc> {
  return {
    async createNotificationChannel(req, ctx) {
      const row = await service.create(callOf(ctx), {
        name: req.name,
        type: req.type,
        config: configInput(req.config),
        events: req.events,
        policyIds: req.policyIds,
        isActive: req.isActive,
      });
      ctx.responseHeader.set(httpCodeHeader, "201");
      return channelMessage(row);
    },
    async listNotificationChannels(req, ctx) {
      const r = await service.list(callOf(ctx), { limit: req.limit, cursor: req.cursor });
      return create(ListNotificationChannelsResponseSchema, { data: r.rows.map(channelMessage), cursor: r.cursor, hasMore: r.hasMore });
    },
    async getNotificationChannel(req, ctx) {
      return channelMessage(await service.get(callOf(ctx), req.id));
    },
    async updateNotificationChannel(req, ctx) {
      const row = await service.update(callOf(ctx), req.id, {
        config: configInput(req.config),
        events: stringListOf(req.events, "events"),
        policyIds: stringListOf(req.policyIds, "policy_ids"),
        isActive: req.isActive,
      });
      return channelMessage(row);
    },
    async deleteNotificationChannel(req, ctx) {
      return create(DeleteNotificationChannelResponseSchema, await service.remove(callOf(ctx), req.id));
    },
    async listNotificationDeliveries(req, ctx) {
      const r = await service.deliveries(callOf(ctx), req.id, { limit: req.limit, cursor: req.cursor });
      return create(ListNotificationDeliveriesResponseSchema, { data: r.rows.map(attemptMessage), cursor: r.cursor, hasMore: r.hasMore });
    },
    async testNotificationChannel(req, ctx) {
      return create(TestNotificationChannelResponseSchema, await service.test(callOf(ctx), req.id));
    },
  };
}

function configInput(config: NotificationChannelConfig | undefined) {
  return config ? { to: config.to, webhookUrl: config.webhookUrl } : undefined;
}

function channelMessage(row: ChannelRow) {
  return create(NotificationChannelSchema, {
    id: row.id,
    name: row.name,
    type: row.type,
    config: row.type === "email" ? { to: row.recipients } : { hasWebhookUrl: row.url_ciphertext !== null },
    events: row.events,
    policyIds: row.policy_ids,
    isActive: row.is_active,
    createdAt: tsOf(row.created_at),
    updatedAt: tsOf(row.updated_at),
  });
}

function attemptMessage(row: AttemptRow) {
  return create(NotificationDeliverySchema, {
    id: `att_${row.id}`,
    eventId: row.event_id,
    eventType: row.event_type,
    attempt: row.attempt,
    attemptedAt: tsOf(row.attempted_at),
    statusCode: row.status_code ?? undefined,
    latencyMs: row.latency_ms,
    error: row.error ?? undefined,
    nextRetryAt: tsOf(row.next_retry_at),
    state: row.state,
  });
}

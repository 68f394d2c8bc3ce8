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
import { asCreated, callOf, stringListOf, tsOf } from "../handler-support.js";
import type { NotificationChannelsService } from "./notification-channels-service.js";
import { targetHandlers } from "../outbound/delivery-target-handlers.js";
import type { ChannelRow } from "./notification-channels-store.js";

/** Thin handlers: read the call, call the service, build the reply. The Slack URL never leaves. */
export function createNotificationChannelsHandler(service: NotificationChannelsService): ServiceImpl<typeof NotificationChannelServiceDesc> {
  const shared = targetHandlers(service, {
    deleted: (r) => create(DeleteNotificationChannelResponseSchema, r),
    attempts: (page) => create(ListNotificationDeliveriesResponseSchema, { ...page, data: page.data.map((a) => create(NotificationDeliverySchema, a)) }),
    tested: (r) => create(TestNotificationChannelResponseSchema, r),
  });
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
      return asCreated(channelMessage(row));
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
    deleteNotificationChannel: shared.remove,
    listNotificationDeliveries: shared.deliveries,
    testNotificationChannel: shared.test,
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

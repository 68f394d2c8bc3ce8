import { create } from "@bufbuild/protobuf";
import type { ServiceImpl } from "@connectrpc/connect";
import {
  DeleteWebhookResponseSchema,
  ListWebhookDeliveriesResponseSchema,
  ListWebhooksResponseSchema,
  TestWebhookResponseSchema,
  WebhookDeliverySchema,
  WebhookSchema,
  type WebhookService as WebhookServiceDesc,
} from "../../gen/scaivault/v1/webhooks_pb.js";
import { asCreated, callOf, stringListOf, tsOf } from "../handler-support.js";
import type { WebhooksService } from "./webhooks-service.js";
import { targetHandlers } from "../outbound/delivery-target-handlers.js";
import type { WebhookRow } from "./webhooks-store.js";

/** Thin handlers: read the call, call the service, build the reply. The secret leaves only in a create reply. */
export function createWebhooksHandler(service: WebhooksService): ServiceImpl<typeof WebhookServiceDesc> {
  const shared = targetHandlers(service, {
    deleted: (r) => create(DeleteWebhookResponseSchema, r),
    attempts: (page) => create(ListWebhookDeliveriesResponseSchema, { ...page, data: page.data.map((a) => create(WebhookDeliverySchema, a)) }),
    tested: (r) => create(TestWebhookResponseSchema, r),
  });
  return {
    async createWebhook(req, ctx) {
      const { webhook, secret } = await service.create(callOf(ctx), {
        name: req.name,
        url: req.url,
        secret: req.secret,
        events: req.events,
        isActive: req.isActive,
      });
      return asCreated(webhookMessage(webhook, secret));
    },

    async listWebhooks(req, ctx) {
      const r = await service.list(callOf(ctx), { limit: req.limit, cursor: req.cursor });
      return create(ListWebhooksResponseSchema, { data: r.rows.map((row) => webhookMessage(row)), cursor: r.cursor, hasMore: r.hasMore });
    },

    async getWebhook(req, ctx) {
      return webhookMessage(await service.get(callOf(ctx), req.id));
    },

    async updateWebhook(req, ctx) {
      const row = await service.update(callOf(ctx), req.id, {
        url: req.url,
        secret: req.secret,
        events: stringListOf(req.events, "events"),
        isActive: req.isActive,
      });
      return webhookMessage(row);
    },

    deleteWebhook: shared.remove,
    listWebhookDeliveries: shared.deliveries,
    testWebhook: shared.test,
  };
}

function webhookMessage(row: WebhookRow, secret?: string) {
  return create(WebhookSchema, {
    id: row.id,
    name: row.name,
    url: row.url,
    events: row.events,
    isActive: row.is_active,
    createdAt: tsOf(row.created_at),
    updatedAt: tsOf(row.updated_at),
    secret,
  });
}

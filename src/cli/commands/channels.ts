import { fromJson } from "@bufbuild/protobuf";
import { ListValueSchema } from "@bufbuild/protobuf/wkt";
import {
  DeleteNotificationChannelResponseSchema,
  NotificationChannelSchema,
  NotificationDeliverySchema,
  TestNotificationChannelResponseSchema,
  type NotificationChannel,
} from "../../../clients/typescript/src/index.js";
import { UsageError, type CommandContext, type GroupSpec } from "../cli.js";
import { allPages, intOption, listOption, readInput, stringOption } from "../input.js";
import { keyValues, messageJson, objectTable } from "../output.js";

const events = "rotation.due, rotation.completed, rotation.failed, rotation.revoked, secret.created, secret.updated, secret.deleted, secret.restored, secret.expiring";

/** A Slack webhook URL from a file or standard input (it is a credential: never on the command line). */
async function webhookUrlFrom(ctx: CommandContext): Promise<string | undefined> {
  const file = stringOption(ctx, "webhook-url-file");
  if (file === undefined) return undefined;
  const url = (await readInput(ctx, file)).toString("utf8").trim();
  if (!url) throw new UsageError("the webhook URL is empty");
  return url;
}

function printChannel(ctx: CommandContext, channel: NotificationChannel) {
  const json = messageJson(NotificationChannelSchema, channel);
  if (ctx.json) return ctx.printJson(json);
  const { config, ...rest } = json as Record<string, unknown> & { config?: { to?: string[]; has_webhook_url?: boolean } };
  ctx.print(keyValues({ ...rest, ...(config?.to?.length ? { to: config.to } : {}), ...(config?.has_webhook_url ? { has_webhook_url: true } : {}) }));
}

/** `scaivault channels ...` */
export const channelCommands: GroupSpec = {
  name: "channels",
  summary: "Email and Slack notification channels",
  commands: [
    {
      name: "list",
      summary: "List notification channels",
      async run(ctx) {
        const client = await ctx.client();
        const rows = [];
        for await (const c of allPages(async (cursor) => {
          const page = await client.notificationChannels.listNotificationChannels({ cursor });
          return { rows: page.data, cursor: page.cursor, hasMore: page.hasMore };
        })) rows.push(messageJson(NotificationChannelSchema, c));
        if (ctx.json) return ctx.printJson(rows);
        ctx.print(objectTable(["id", "type", "events", "policy_ids", "is_active"], rows));
      },
    },
    {
      name: "create",
      summary: "Create a channel (id nc_NAME)",
      args: ["NAME"],
      options: {
        type: { type: "string", value: "TYPE", description: "email or slack (required)" },
        to: { type: "string", multiple: true, value: "ADDRESS", description: "An email recipient (email channels)" },
        "webhook-url-file": { type: "string", value: "PATH", description: "Read the Slack incoming-webhook URL from this file (- for standard input)" },
        event: { type: "string", multiple: true, value: "TYPE", description: `An event type: ${events}` },
        policy: { type: "string", multiple: true, value: "ID", description: "A rotation policy whose events the channel receives" },
        inactive: { type: "boolean", description: "Create it paused" },
      },
      async run(ctx) {
        const type = stringOption(ctx, "type");
        if (!type) throw new UsageError("--type email|slack is required");
        const to = listOption(ctx, "to");
        const webhookUrl = await webhookUrlFrom(ctx);
        printChannel(
          ctx,
          await (await ctx.client()).notificationChannels.createNotificationChannel({
            name: ctx.arg("NAME"),
            type,
            config: { to, webhookUrl },
            events: listOption(ctx, "event"),
            policyIds: listOption(ctx, "policy"),
            isActive: ctx.opts.inactive === true ? false : undefined,
          }),
        );
      },
    },
    {
      name: "show",
      summary: "Show a channel (never its Slack URL)",
      args: ["ID"],
      async run(ctx) {
        printChannel(ctx, await (await ctx.client()).notificationChannels.getNotificationChannel({ id: ctx.arg("ID") }));
      },
    },
    {
      name: "update",
      summary: "Change the given fields of a channel",
      args: ["ID"],
      options: {
        to: { type: "string", multiple: true, value: "ADDRESS", description: "Replace the email recipients" },
        "webhook-url-file": { type: "string", value: "PATH", description: "Replace the Slack URL, read from this file (- for standard input)" },
        event: { type: "string", multiple: true, value: "TYPE", description: "Replace the event types" },
        policy: { type: "string", multiple: true, value: "ID", description: "Replace the attached rotation policies" },
        active: { type: "boolean", description: "Resume messages" },
        inactive: { type: "boolean", description: "Pause messages" },
      },
      async run(ctx) {
        const to = listOption(ctx, "to");
        const webhookUrl = await webhookUrlFrom(ctx);
        const eventTypes = listOption(ctx, "event");
        const policies = listOption(ctx, "policy");
        printChannel(
          ctx,
          await (await ctx.client()).notificationChannels.updateNotificationChannel({
            id: ctx.arg("ID"),
            config: to.length || webhookUrl ? { to, webhookUrl } : undefined,
            events: eventTypes.length ? fromJson(ListValueSchema, eventTypes) : undefined,
            policyIds: policies.length ? fromJson(ListValueSchema, policies) : undefined,
            isActive: ctx.opts.active === true ? true : ctx.opts.inactive === true ? false : undefined,
          }),
        );
      },
    },
    {
      name: "delete",
      summary: "Delete a channel",
      args: ["ID"],
      async run(ctx) {
        const json = messageJson(DeleteNotificationChannelResponseSchema, await (await ctx.client()).notificationChannels.deleteNotificationChannel({ id: ctx.arg("ID") }));
        if (ctx.json) return ctx.printJson(json);
        ctx.print(keyValues(json));
      },
    },
    {
      name: "deliveries",
      summary: "A channel's delivery attempts, newest first",
      args: ["ID"],
      options: { limit: { type: "string", value: "N", description: "At most N rows" } },
      async run(ctx) {
        const client = await ctx.client();
        const rows = [];
        for await (const d of allPages(async (cursor, limit) => {
          const page = await client.notificationChannels.listNotificationDeliveries({ id: ctx.arg("ID"), limit, cursor });
          return { rows: page.data, cursor: page.cursor, hasMore: page.hasMore };
        }, intOption(ctx, "limit"))) rows.push(messageJson(NotificationDeliverySchema, d));
        if (ctx.json) return ctx.printJson(rows);
        ctx.print(objectTable(["event_id", "event_type", "attempt", "attempted_at", "status_code", "state", "error"], rows));
      },
    },
    {
      name: "test",
      summary: "Send a test message to a channel",
      args: ["ID"],
      async run(ctx) {
        const json = messageJson(TestNotificationChannelResponseSchema, await (await ctx.client()).notificationChannels.testNotificationChannel({ id: ctx.arg("ID") }));
        if (ctx.json) return ctx.printJson(json);
        ctx.print(keyValues(json));
      },
    },
  ],
};

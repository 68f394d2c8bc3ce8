import { fromJson } from "@bufbuild/protobuf";
import { ListValueSchema } from "@bufbuild/protobuf/wkt";
import { DeleteWebhookResponseSchema, TestWebhookResponseSchema, WebhookDeliverySchema, WebhookSchema, type Webhook } from "../../../clients/typescript/src/index.js";
import { UsageError, type CommandContext, type GroupSpec } from "../cli.js";
import { allPages, intOption, listOption, readInput, stringOption } from "../input.js";
import { keyValues, messageJson, objectTable } from "../output.js";

const events = "rotation.due, rotation.completed, rotation.failed, rotation.revoked, secret.created, secret.updated, secret.deleted, secret.restored, secret.expiring";

/** A signing secret from a file or standard input (never the command line). */
async function secretFrom(ctx: CommandContext): Promise<string | undefined> {
  const file = stringOption(ctx, "secret-file");
  if (file === undefined) return undefined;
  const secret = (await readInput(ctx, file)).toString("utf8").trim();
  if (!secret) throw new UsageError("the signing secret is empty");
  return secret;
}

function printWebhook(ctx: CommandContext, webhook: Webhook) {
  const json = messageJson(WebhookSchema, webhook);
  if (ctx.json) return ctx.printJson(json);
  const { secret, ...rest } = json;
  ctx.print(keyValues(rest));
  if (typeof secret === "string") ctx.print(`\nSigning secret (shown once, keep it now):\n${secret}`);
}

/** `scaivault webhooks ...` */
export const webhookCommands: GroupSpec = {
  name: "webhooks",
  summary: "Signed webhooks for rotation and secret events",
  commands: [
    {
      name: "list",
      summary: "List webhooks",
      async run(ctx) {
        const client = await ctx.client();
        const rows = [];
        for await (const w of allPages(async (cursor) => {
          const page = await client.webhooks.listWebhooks({ cursor });
          return { rows: page.data, cursor: page.cursor, hasMore: page.hasMore };
        })) rows.push(messageJson(WebhookSchema, w));
        if (ctx.json) return ctx.printJson(rows);
        ctx.print(objectTable(["id", "url", "events", "is_active"], rows));
      },
    },
    {
      name: "create",
      summary: "Register a webhook (id wh_NAME); prints a generated signing secret once",
      args: ["NAME"],
      options: {
        endpoint: { type: "string", value: "URL", description: "Where events are POSTed (required; --url names the service)" },
        event: { type: "string", multiple: true, value: "TYPE", description: `An event type: ${events}` },
        "secret-file": { type: "string", value: "PATH", description: "Read a whsec_ signing secret from this file (- for standard input) instead of generating one" },
        inactive: { type: "boolean", description: "Create it paused" },
      },
      async run(ctx) {
        const endpoint = stringOption(ctx, "endpoint");
        if (!endpoint) throw new UsageError("--endpoint URL is required");
        printWebhook(
          ctx,
          await (await ctx.client()).webhooks.createWebhook({
            name: ctx.arg("NAME"),
            url: endpoint,
            events: listOption(ctx, "event"),
            secret: await secretFrom(ctx),
            isActive: ctx.opts.inactive === true ? false : undefined,
          }),
        );
      },
    },
    {
      name: "show",
      summary: "Show a webhook (never its secret)",
      args: ["ID"],
      async run(ctx) {
        printWebhook(ctx, await (await ctx.client()).webhooks.getWebhook({ id: ctx.arg("ID") }));
      },
    },
    {
      name: "update",
      summary: "Change the given fields of a webhook",
      args: ["ID"],
      options: {
        endpoint: { type: "string", value: "URL", description: "New URL events are POSTed to" },
        event: { type: "string", multiple: true, value: "TYPE", description: "Replace the event types" },
        "secret-file": { type: "string", value: "PATH", description: "Read a new whsec_ signing secret from this file (- for standard input)" },
        active: { type: "boolean", description: "Resume deliveries" },
        inactive: { type: "boolean", description: "Pause deliveries" },
      },
      async run(ctx) {
        const eventTypes = listOption(ctx, "event");
        printWebhook(
          ctx,
          await (await ctx.client()).webhooks.updateWebhook({
            id: ctx.arg("ID"),
            url: stringOption(ctx, "endpoint"),
            secret: await secretFrom(ctx),
            events: eventTypes.length ? fromJson(ListValueSchema, eventTypes) : undefined,
            isActive: ctx.opts.active === true ? true : ctx.opts.inactive === true ? false : undefined,
          }),
        );
      },
    },
    {
      name: "delete",
      summary: "Delete a webhook",
      args: ["ID"],
      async run(ctx) {
        const json = messageJson(DeleteWebhookResponseSchema, await (await ctx.client()).webhooks.deleteWebhook({ id: ctx.arg("ID") }));
        if (ctx.json) return ctx.printJson(json);
        ctx.print(keyValues(json));
      },
    },
    {
      name: "deliveries",
      summary: "A webhook's delivery attempts, newest first",
      args: ["ID"],
      options: { limit: { type: "string", value: "N", description: "At most N rows" } },
      async run(ctx) {
        const client = await ctx.client();
        const rows = [];
        for await (const d of allPages(async (cursor, limit) => {
          const page = await client.webhooks.listWebhookDeliveries({ id: ctx.arg("ID"), limit, cursor });
          return { rows: page.data, cursor: page.cursor, hasMore: page.hasMore };
        }, intOption(ctx, "limit"))) rows.push(messageJson(WebhookDeliverySchema, d));
        if (ctx.json) return ctx.printJson(rows);
        ctx.print(objectTable(["event_id", "event_type", "attempt", "attempted_at", "status_code", "state", "error"], rows));
      },
    },
    {
      name: "test",
      summary: "Send a ping event to a webhook",
      args: ["ID"],
      async run(ctx) {
        const json = messageJson(TestWebhookResponseSchema, await (await ctx.client()).webhooks.testWebhook({ id: ctx.arg("ID") }));
        if (ctx.json) return ctx.printJson(json);
        ctx.print(keyValues(json));
      },
    },
  ],
};

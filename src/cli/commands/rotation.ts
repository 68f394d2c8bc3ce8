import { fromJson } from "@bufbuild/protobuf";
import { ListValueSchema } from "@bufbuild/protobuf/wkt";
import {
  DeleteRotationPolicyResponseSchema,
  DetachSecretResponseSchema,
  DueSecretSchema,
  RotationHistoryItemSchema,
  RotationPolicySchema,
  SecretAssignmentSchema,
  type RotationPolicy,
} from "../../../clients/typescript/src/index.js";
import type { CommandContext, GroupSpec, OptionSpec } from "../cli.js";
import { allPages, intOption, listOption, stringOption } from "../input.js";
import { keyValues, messageJson, objectTable } from "../output.js";
import { providerRotationCommands } from "./provider-rotation.js";

const policyColumns = ["id", "name", "interval", "schedule", "timezone", "rotation_window", "grace_period", "auto_generate", "is_active", "secrets_count"];

const policyOptions: Record<string, OptionSpec> = {
  description: { type: "string", value: "TEXT", description: "Description" },
  interval: { type: "string", value: "DURATION", description: "Time between rotations, e.g. 90d (at least 1h); or use --schedule" },
  schedule: { type: "string", value: "CRON", description: "5-field cron expression, e.g. '0 3 * * SAT' (at most hourly); instead of --interval" },
  timezone: { type: "string", value: "ZONE", description: "IANA time zone of --schedule, e.g. Europe/Berlin (default UTC)" },
  window: { type: "string", value: "DURATION", description: "Rotation window after each scheduled time, e.g. 3h (at least 1h)" },
  "grace-period": { type: "string", value: "DURATION", description: "How long the previous version stays readable (default 48h)" },
  "warn-before": { type: "string", value: "LIST", description: "Warn this long before, e.g. 7d,1d" },
  "auto-generate": { type: "boolean", description: "The service generates new values (with --secret-policy)" },
  "secret-policy": { type: "string", value: "ID", description: "Value-generation policy (sp_...)" },
  webhook: { type: "string", multiple: true, value: "ID", description: "Webhook told about this policy's rotations (wh_...)" },
};

function printPolicy(ctx: CommandContext, policy: RotationPolicy) {
  const json = messageJson(RotationPolicySchema, policy);
  if (ctx.json) ctx.printJson(json);
  else ctx.print(keyValues(json));
}

const policies: GroupSpec = {
  name: "policies",
  summary: "Rotation policies",
  commands: [
    {
      name: "list",
      summary: "List rotation policies",
      options: { "active-only": { type: "boolean", description: "Only enabled policies" } },
      async run(ctx) {
        const client = await ctx.client();
        const rows = [];
        for await (const p of allPages(async (cursor) => {
          const page = await client.rotation.listRotationPolicies({ activeOnly: ctx.opts["active-only"] === true, cursor });
          return { rows: page.data, cursor: page.cursor, hasMore: page.hasMore };
        })) rows.push(messageJson(RotationPolicySchema, p));
        if (ctx.json) return ctx.printJson(rows);
        ctx.print(objectTable(policyColumns, rows));
      },
    },
    {
      name: "create",
      summary: "Create a rotation policy (id rot_NAME)",
      args: ["NAME"],
      options: policyOptions,
      async run(ctx) {
        const policy = await (await ctx.client()).rotation.createRotationPolicy({
          name: ctx.arg("NAME"),
          description: stringOption(ctx, "description"),
          interval: stringOption(ctx, "interval") ?? "",
          schedule: stringOption(ctx, "schedule"),
          timezone: stringOption(ctx, "timezone"),
          rotationWindow: stringOption(ctx, "window"),
          gracePeriod: stringOption(ctx, "grace-period"),
          warnBefore: stringOption(ctx, "warn-before"),
          autoGenerate: ctx.opts["auto-generate"] === true ? true : undefined,
          secretPolicyId: stringOption(ctx, "secret-policy"),
          webhookIds: listOption(ctx, "webhook"),
        });
        printPolicy(ctx, policy);
      },
    },
    {
      name: "show",
      summary: "Show a rotation policy",
      args: ["ID"],
      async run(ctx) {
        printPolicy(ctx, await (await ctx.client()).rotation.getRotationPolicy({ id: ctx.arg("ID") }));
      },
    },
    {
      name: "update",
      summary: "Change the given fields of a rotation policy",
      args: ["ID"],
      options: {
        ...policyOptions,
        "no-auto-generate": { type: "boolean", description: "Stop generating values: rotations send rotation.due events instead" },
        "clear-webhooks": { type: "boolean", description: "Detach every webhook" },
      },
      async run(ctx) {
        const webhooks = listOption(ctx, "webhook");
        const policy = await (await ctx.client()).rotation.updateRotationPolicy({
          id: ctx.arg("ID"),
          description: stringOption(ctx, "description"),
          interval: stringOption(ctx, "interval"),
          schedule: stringOption(ctx, "schedule"),
          timezone: stringOption(ctx, "timezone"),
          rotationWindow: stringOption(ctx, "window"),
          gracePeriod: stringOption(ctx, "grace-period"),
          warnBefore: stringOption(ctx, "warn-before"),
          autoGenerate: ctx.opts["auto-generate"] === true ? true : ctx.opts["no-auto-generate"] === true ? false : undefined,
          secretPolicyId: stringOption(ctx, "secret-policy"),
          webhookIds: webhooks.length || ctx.opts["clear-webhooks"] ? fromJson(ListValueSchema, webhooks) : undefined,
        });
        printPolicy(ctx, policy);
      },
    },
    {
      name: "delete",
      summary: "Delete a rotation policy (its secrets are detached)",
      args: ["ID"],
      async run(ctx) {
        const json = messageJson(DeleteRotationPolicyResponseSchema, await (await ctx.client()).rotation.deleteRotationPolicy({ id: ctx.arg("ID") }));
        if (ctx.json) return ctx.printJson(json);
        ctx.print(keyValues(json));
      },
    },
    {
      name: "enable",
      summary: "Resume a paused policy",
      args: ["ID"],
      async run(ctx) {
        printPolicy(ctx, await (await ctx.client()).rotation.enableRotationPolicy({ id: ctx.arg("ID") }));
      },
    },
    {
      name: "disable",
      summary: "Pause a policy (rotations that fall due meanwhile are skipped)",
      args: ["ID"],
      async run(ctx) {
        printPolicy(ctx, await (await ctx.client()).rotation.disableRotationPolicy({ id: ctx.arg("ID") }));
      },
    },
    {
      name: "assign",
      summary: "Attach a secret to a policy",
      args: ["ID", "PATH"],
      async run(ctx) {
        const json = messageJson(SecretAssignmentSchema, await (await ctx.client()).rotation.assignSecret({ id: ctx.arg("ID"), secretPath: ctx.arg("PATH") }));
        if (ctx.json) return ctx.printJson(json);
        ctx.print(keyValues(json));
      },
    },
    {
      name: "detach",
      summary: "Detach a secret from a policy",
      args: ["ID", "PATH"],
      async run(ctx) {
        const json = messageJson(DetachSecretResponseSchema, await (await ctx.client()).rotation.detachSecret({ id: ctx.arg("ID"), secretPath: ctx.arg("PATH") }));
        if (ctx.json) return ctx.printJson(json);
        ctx.print(keyValues(json));
      },
    },
    {
      name: "rotate",
      summary: "Rotate the policy's secrets now (or only the PATHs given)",
      args: ["ID", "PATH..."],
      async run(ctx) {
        const res = await (await ctx.client()).rotation.rotatePolicy({ id: ctx.arg("ID"), secretPaths: ctx.rest });
        const rows = res.items.map((i) => messageJson(RotationHistoryItemSchema, i));
        if (ctx.json) return ctx.printJson(rows);
        ctx.print(objectTable(["secret_path", "status", "old_version", "new_version", "error"], rows));
      },
    },
    {
      name: "history",
      summary: "A policy's rotation history, newest first",
      args: ["ID"],
      options: {
        status: { type: "string", value: "S", description: "success, failed, pending or skipped" },
        limit: { type: "string", value: "N", description: "At most N rows" },
      },
      async run(ctx) {
        const client = await ctx.client();
        const rows = [];
        for await (const item of allPages(async (cursor, limit) => {
          const page = await client.rotation.listRotationHistory({ id: ctx.arg("ID"), status: stringOption(ctx, "status"), limit, cursor });
          return { rows: page.data, cursor: page.cursor, hasMore: page.hasMore };
        }, intOption(ctx, "limit"))) rows.push(messageJson(RotationHistoryItemSchema, item));
        if (ctx.json) return ctx.printJson(rows);
        ctx.print(objectTable(["id", "secret_path", "status", "old_version", "new_version", "rotated_at", "rotated_by"], rows));
      },
    },
  ],
};

/** `scaivault rotation ...` */
export const rotationCommands: GroupSpec = {
  name: "rotation",
  summary: "Rotation policies, due rotations and provider rotation",
  commands: [
    policies,
    ...providerRotationCommands,
    {
      name: "due",
      summary: "List secrets due for rotation",
      options: {
        "within-hours": { type: "string", value: "N", description: "Window in hours (default 24)" },
        "no-overdue": { type: "boolean", description: "Leave out overdue secrets" },
        policy: { type: "string", value: "ID", description: "Only this policy's secrets" },
      },
      async run(ctx) {
        const res = await (await ctx.client()).rotation.listDueSecrets({
          withinHours: intOption(ctx, "within-hours"),
          includeOverdue: ctx.opts["no-overdue"] === true ? false : undefined,
          policyId: stringOption(ctx, "policy"),
        });
        const rows = res.secrets.map((s) => messageJson(DueSecretSchema, s));
        if (ctx.json) return ctx.printJson(rows);
        ctx.print(objectTable(["path", "policy_id", "next_rotation_at", "is_overdue", "window_opens_at", "window_closes_at"], rows));
      },
    },
  ],
};

import { readFile } from "node:fs/promises";
import type { JsonObject } from "@bufbuild/protobuf";
import { RotateSecretResponseSchema, RotationRunSchema, SecretRotationSchema, SecretRotationTestSchema, type SecretRotation } from "../../../clients/typescript/src/index.js";
import { exitCodes } from "../exit-codes.js";
import { UsageError, type CommandContext, type CommandSpec } from "../cli.js";
import { intOption, readInput, stringOption } from "../input.js";
import { keyValues, messageJson, objectTable } from "../output.js";

// `scaivault rotation enable|rotate|test|pause|resume|disable|list|show|runs|rollback`: a secret's
// provider rotation. Credentials come from a file or standard input, never from the command line.

const DAY_MS = 86_400_000;

/** `--config '{"url": …}'` or `--config @file.json`. */
async function jsonOption(ctx: CommandContext, name: string): Promise<JsonObject | undefined> {
  const text = stringOption(ctx, name);
  if (text === undefined) return undefined;
  const raw = text.startsWith("@") ? (await readFile(text.slice(1))).toString("utf8") : text;
  let value: unknown;
  try {
    value = JSON.parse(raw);
  } catch {
    throw new UsageError(`--${name} must be a JSON object or @FILE holding one`);
  }
  if (typeof value !== "object" || value === null || Array.isArray(value)) throw new UsageError(`--${name} must be a JSON object`);
  return value as JsonObject;
}

async function credentialsOption(ctx: CommandContext): Promise<JsonObject | undefined> {
  const file = stringOption(ctx, "credentials-file");
  if (file === undefined) return undefined;
  let value: unknown;
  try {
    value = JSON.parse((await readInput(ctx, file)).toString("utf8"));
  } catch {
    throw new UsageError("--credentials-file must hold a JSON object");
  }
  if (typeof value !== "object" || value === null || Array.isArray(value)) throw new UsageError("--credentials-file must hold a JSON object");
  return value as JsonObject;
}

/** "15 days ago", "in 75 days", "today". */
export function relativeDays(when: Date, now: Date): string {
  const days = Math.round((when.getTime() - now.getTime()) / DAY_MS);
  if (days === 0) return "today";
  const n = Math.abs(days);
  const unit = n === 1 ? "day" : "days";
  return days < 0 ? `${n} ${unit} ago` : `in ${n} ${unit}`;
}

function printRotation(ctx: CommandContext, r: SecretRotation) {
  const json = messageJson(SecretRotationSchema, r) as Record<string, unknown>;
  if (ctx.json) return ctx.printJson(json);
  const now = new Date();
  const at = (ts: string | null | undefined) => (ts ? `${ts.slice(0, 10)} (${relativeDays(new Date(ts), now)})` : "never");
  const lastRun = json.last_run as Record<string, unknown> | null;
  ctx.print(
    keyValues({
      secret: r.path,
      status: r.status,
      "last rotated": at(json.last_rotated_at as string | null),
      "next rotation": r.status === "paused" ? "paused" : json.next_rotation_at ? at(json.next_rotation_at as string) : "manual only",
      provider: r.provider,
      interval: r.interval ?? (r.schedule ? "none (cron schedule)" : "none (no policy)"),
      schedule: r.schedule ? `${r.schedule} (${r.timezone ?? "UTC"})${r.rotationWindow ? `, window ${r.rotationWindow}` : ""}` : "none",
      "scheduled by": r.scheduleSource === "binding" ? "its own schedule" : r.scheduleSource === "policy" ? `policy ${r.policyId ?? ""}`.trim() : "nothing (manual rotations only)",
      "grace period": r.gracePeriod,
      credentials: r.hasCredentials ? "stored" : "none",
      "last run": lastRun ? `${String(lastRun.id)} ${String(lastRun.status)} at ${String(lastRun.step)}${lastRun.error ? `: ${String(lastRun.error)}` : ""}` : "none",
    }),
  );
}

const pathArg = ["PATH"];

/** The provider-rotation commands, added to `scaivault rotation`. */
export const providerRotationCommands: CommandSpec[] = [
  {
    name: "enable",
    summary: "Rotate a secret through a provider (webhook, generated, aws_iam, postgres, stripe)",
    args: pathArg,
    options: {
      provider: { type: "string", value: "NAME", description: "webhook, generated, aws_iam, postgres or stripe" },
      policy: { type: "string", value: "ID", description: "Rotation policy that schedules it (rot_...)" },
      config: { type: "string", value: "JSON|@FILE", description: "The provider's settings" },
      "credentials-file": { type: "string", value: "FILE", description: "The provider's credentials, a JSON object (- for standard input)" },
      "grace-period": { type: "string", value: "DURATION", description: "How long the old credential stays valid (default the policy's, else 48h)" },
      "check-url": { type: "string", value: "URL", description: "Propagation check: a GET that must answer before anything is revoked" },
      "check-status": { type: "string", value: "N", description: "Status the check must answer (default 200)" },
      "max-attempts": { type: "string", value: "N", description: "Tries per step (default 3)" },
      interval: { type: "string", value: "DURATION", description: "Its own schedule instead of a policy: every DURATION (e.g. 30d)" },
      schedule: { type: "string", value: "CRON", description: "Its own schedule instead of a policy: a 5-field cron expression" },
      timezone: { type: "string", value: "ZONE", description: "IANA zone of --schedule (default UTC)" },
      "rotation-window": { type: "string", value: "DURATION", description: "How long after each --schedule time a run may start" },
    },
    async run(ctx) {
      const provider = stringOption(ctx, "provider");
      if (!provider) throw new UsageError("--provider is required");
      const checkUrl = stringOption(ctx, "check-url");
      const r = await (await ctx.client()).rotation.configureSecretRotation({
        path: ctx.arg("PATH"),
        provider,
        policyId: stringOption(ctx, "policy"),
        config: await jsonOption(ctx, "config"),
        credentials: await credentialsOption(ctx),
        gracePeriod: stringOption(ctx, "grace-period"),
        propagationCheck: checkUrl ? { url: checkUrl, expectedStatus: intOption(ctx, "check-status") } : undefined,
        maxAttempts: intOption(ctx, "max-attempts"),
        interval: stringOption(ctx, "interval"),
        schedule: stringOption(ctx, "schedule"),
        timezone: stringOption(ctx, "timezone"),
        rotationWindow: stringOption(ctx, "rotation-window"),
      });
      printRotation(ctx, r);
    },
  },
  {
    name: "rotate",
    summary: "Rotate a secret now; answers once the new credential is current",
    args: pathArg,
    options: {
      emergency: { type: "boolean", description: "A credential leaked: revoke one still in an earlier grace period first, then rotate (needs admin and --reason)" },
      reason: { type: "string", value: "TEXT", description: "Why (kept on the run, in its events and the audit log)" },
      "grace-period": { type: "string", value: "DURATION", description: "How long the replaced credential stays valid (0s: revoked once verify passes)" },
    },
    details: "With --emergency the credential still valid from an earlier rotation is revoked at the provider at once:\nconsumers still using it stop working. The answer says what was revoked and when.",
    async run(ctx) {
      const emergency = ctx.opts.emergency === true;
      const reason = stringOption(ctx, "reason");
      if (emergency && !reason) throw new UsageError("--emergency needs --reason (kept on the run and told in its events)");
      const res = await (await ctx.client()).secrets.rotateSecret({ path: ctx.arg("PATH"), emergency: emergency || undefined, reason, gracePeriod: stringOption(ctx, "grace-period") });
      const json = messageJson(RotateSecretResponseSchema, res);
      if (ctx.json) return ctx.printJson(json);
      ctx.print(keyValues(json));
    },
  },
  {
    name: "test",
    summary: "Test connection: is the provider reachable and does it accept the stored credentials (changes nothing)",
    args: pathArg,
    details: "Exit code 0 when every check passed, 6 when the provider did not answer, 4 when a check failed (credentials, config).",
    async run(ctx) {
      const res = await (await ctx.client()).rotation.testSecretRotation({ path: ctx.arg("PATH") });
      const json = messageJson(SecretRotationTestSchema, res);
      if (ctx.json) ctx.printJson(json);
      else ctx.print(objectTable(["name", "ok", "message"], res.checks.map((c) => ({ name: c.name, ok: c.ok ? "ok" : "FAILED", message: c.message }))));
      if (res.ok) return exitCodes.ok;
      return res.checks.some((c) => c.name === "reachable" && !c.ok) ? exitCodes.unavailable : exitCodes.conflict;
    },
  },
  {
    name: "pause",
    summary: "Stop scheduled rotations of a secret",
    args: pathArg,
    async run(ctx) {
      printRotation(ctx, await (await ctx.client()).rotation.pause(ctx.arg("PATH")));
    },
  },
  {
    name: "resume",
    summary: "Resume scheduled rotations of a secret",
    args: pathArg,
    async run(ctx) {
      printRotation(ctx, await (await ctx.client()).rotation.resume(ctx.arg("PATH")));
    },
  },
  {
    name: "disable",
    summary: "Remove a secret's provider rotation (the secret stays)",
    args: pathArg,
    async run(ctx) {
      await (await ctx.client()).rotation.disable(ctx.arg("PATH"));
      if (ctx.json) return ctx.printJson({ path: ctx.arg("PATH"), deleted: true });
      ctx.print(`provider rotation of ${ctx.arg("PATH")} removed`);
    },
  },
  {
    name: "list",
    summary: "List provider rotations",
    options: {
      status: { type: "string", value: "S", description: "active, paused, failing (or failed)" },
      provider: { type: "string", value: "NAME", description: "Only this provider's" },
    },
    async run(ctx) {
      const client = await ctx.client();
      const status = stringOption(ctx, "status");
      const rows = [];
      for await (const r of client.rotation.list({ status: (status === "failed" ? "failing" : status) as "failing" | undefined, provider: stringOption(ctx, "provider") as "webhook" | undefined })) {
        rows.push(messageJson(SecretRotationSchema, r));
      }
      if (ctx.json) return ctx.printJson(rows);
      ctx.print(objectTable(["path", "provider", "status", "policy_id", "last_rotated_at", "next_rotation_at"], rows));
    },
  },
  {
    name: "show",
    summary: "Show a secret's provider rotation: status, last and next rotation, provider, interval",
    args: pathArg,
    async run(ctx) {
      printRotation(ctx, await (await ctx.client()).rotation.get(ctx.arg("PATH")));
    },
  },
  {
    name: "runs",
    summary: "A secret's rotation runs, newest first",
    args: pathArg,
    options: { status: { type: "string", value: "S", description: "running, waiting_grace, succeeded, failed or rolled_back" } },
    async run(ctx) {
      const rows = [];
      for await (const run of (await ctx.client()).rotation.runs(ctx.arg("PATH"), { status: stringOption(ctx, "status") })) {
        rows.push(messageJson(RotationRunSchema, run));
      }
      if (ctx.json) return ctx.printJson(rows);
      ctx.print(objectTable(["id", "triggered_by", "status", "step", "old_version", "new_version", "started_at", "error"], rows));
    },
  },
  {
    name: "rollback",
    summary: "Make the previous version current again and revoke the new credential",
    args: pathArg,
    async run(ctx) {
      const run = await (await ctx.client()).rotation.rollback(ctx.arg("PATH"));
      const json = messageJson(RotationRunSchema, run);
      if (ctx.json) return ctx.printJson(json);
      ctx.print(keyValues(json));
    },
  },
];

import { fromJson, type JsonObject } from "@bufbuild/protobuf";
import { ListValueSchema, timestampFromDate } from "@bufbuild/protobuf/wkt";
import {
  DeleteSecretResponseSchema,
  ExpiringSecretSchema,
  PutSecretResponseSchema,
  RestoreSecretResponseSchema,
  RotateSecretResponseSchema,
  SecretListItemSchema,
  SecretMetadataSchema,
  SecretSchema,
  SecretVersionInfoSchema,
} from "../../../clients/typescript/src/index.js";
import { UsageError, type CommandContext, type GroupSpec, type OptionSpec } from "../cli.js";
import { allPages, dateOption, intOption, listOption, readSecretData, stringOption } from "../input.js";
import { cell, keyValues, messageJson, objectTable, table } from "../output.js";

const valueOptions: Record<string, OptionSpec> = {
  file: { type: "string", value: "PATH", description: "Read the value from this file; - is standard input" },
  key: { type: "string", value: "NAME", description: "Store the whole input as this one string field instead of reading a JSON object" },
};

const settingOptions: Record<string, OptionSpec> = {
  description: { type: "string", value: "TEXT", description: "Description" },
  tag: { type: "string", multiple: true, value: "TAG", description: "Tag" },
  owner: { type: "string", value: "NAME", description: "Owner (team, user, group)" },
  "max-versions": { type: "string", value: "N", description: "Versions kept, 1 to 100" },
  "expires-in": { type: "string", value: "DURATION", description: "Expire after this long, e.g. 90d" },
  "expires-at": { type: "string", value: "TIME", description: "Expire at this RFC 3339 time" },
  "rotation-policy": { type: "string", value: "ID", description: "Attach a rotation policy (rot_...)" },
  "secret-policy": { type: "string", value: "ID", description: "Attach a value-generation policy (sp_...)" },
};

function secretOptions(ctx: CommandContext) {
  const expiresAt = dateOption(ctx, "expires-at");
  return {
    maxVersions: intOption(ctx, "max-versions"),
    expiresIn: stringOption(ctx, "expires-in"),
    expiresAt: expiresAt && timestampFromDate(expiresAt),
    rotationPolicyId: stringOption(ctx, "rotation-policy"),
    secretPolicyId: stringOption(ctx, "secret-policy"),
  };
}

/** `scaivault secrets ...` */
export const secretsCommands: GroupSpec = {
  name: "secrets",
  summary: "Read and write secrets",
  commands: [
    {
      name: "get",
      summary: "Show a secret's current value (or --version N)",
      args: ["PATH"],
      options: {
        version: { type: "string", value: "N", description: "A specific version" },
        field: { type: "string", value: "KEY", description: "Print only this field's value, as it is (for scripts)" },
      },
      async run(ctx) {
        const secret = await (await ctx.client()).secrets.getSecret({ path: ctx.arg("PATH"), version: intOption(ctx, "version") });
        const field = stringOption(ctx, "field");
        if (field !== undefined) {
          const value = (secret.data ?? {})[field];
          if (value === undefined) throw new UsageError(`the secret has no field "${field}"`);
          return ctx.print(typeof value === "string" ? value : JSON.stringify(value));
        }
        const json = messageJson(SecretSchema, secret);
        if (ctx.json) return ctx.printJson(json);
        const { data, ...about } = json;
        ctx.print(keyValues(about));
        ctx.print(table(["field", "value"], Object.entries((data as JsonObject) ?? {}).map(([k, v]) => [k, cell(v)])));
      },
    },
    {
      name: "put",
      summary: "Write a new version of a secret; the value comes from standard input or --file",
      args: ["PATH"],
      options: {
        ...valueOptions,
        type: { type: "string", value: "TYPE", description: "kv (default), json, certificate, ssh_key, api_key" },
        ...settingOptions,
        cas: { type: "string", value: "N", description: "Only if the current version is N (0: only create)" },
      },
      details: "The value is a JSON object read from standard input (or --file), never from the command line:\n  echo '{\"password\": \"s3cret\"}' | scaivault secrets put app/db\n  printf %s \"$PASSWORD\" | scaivault secrets put app/db --key password",
      async run(ctx) {
        const data = await readSecretData(ctx, stringOption(ctx, "file") ?? "-", stringOption(ctx, "key"));
        const description = stringOption(ctx, "description");
        const owner = stringOption(ctx, "owner");
        const tags = listOption(ctx, "tag");
        const res = await (await ctx.client()).secrets.putSecret({
          path: ctx.arg("PATH"),
          data,
          secretType: stringOption(ctx, "type"),
          metadata: description !== undefined || owner !== undefined || tags.length ? { description, owner, tags } : undefined,
          options: { ...secretOptions(ctx), cas: intOption(ctx, "cas") },
        });
        if (ctx.json) return ctx.printJson(messageJson(PutSecretResponseSchema, res));
        ctx.print(res.created ? `created ${res.path} version ${res.version}` : `updated ${res.path} version ${res.version} (was ${res.previousVersion})`);
      },
    },
    {
      name: "import",
      summary: "Write many secrets from a JSON file of {\"path\": {data}} (standard input for -), in batches",
      args: ["FILE"],
      options: { batch: { type: "string", value: "N", description: "Secrets per call, each call one transaction (default 500)" } },
      details:
        "Each batch is written entirely or not at all; the first failing batch stops the import and names its item.\n  scaivault secrets import seed.json    # {\"app/db\": {\"password\": \"...\"}, \"app/api\": {\"key\": \"...\"}}",
      async run(ctx) {
        const entries = Object.entries(await readSecretData(ctx, ctx.arg("FILE"), undefined));
        const size = intOption(ctx, "batch") ?? 500;
        if (size < 1) throw new UsageError("--batch must be at least 1");
        const client = await ctx.client();
        let created = 0;
        let updated = 0;
        for (let at = 0; at < entries.length; at += size) {
          const chunk = entries.slice(at, at + size);
          for (const [path, data] of chunk) {
            if (typeof data !== "object" || data === null || Array.isArray(data)) throw new UsageError(`the value of "${path}" must be a JSON object`);
          }
          const res = await client.secrets.batchPutSecrets({ items: chunk.map(([path, data]) => ({ path, data: data as JsonObject })) }).catch((err: unknown) => {
            if (at > 0) ctx.print(`imported ${at} of ${entries.length} before the failing batch (from item ${at})`);
            throw err;
          });
          for (const r of res.results) r.created ? created++ : updated++;
        }
        if (ctx.json) return ctx.printJson({ imported: entries.length, created, updated });
        ctx.print(`imported ${entries.length} secrets (${created} created, ${updated} updated)`);
      },
    },
    {
      name: "patch",
      summary: "Change a secret's metadata and settings without writing a version",
      args: ["PATH"],
      options: { ...settingOptions, "clear-tags": { type: "boolean", description: "Remove every tag" } },
      async run(ctx) {
        const tags = listOption(ctx, "tag");
        const res = await (await ctx.client()).secrets.updateSecretMetadata({
          path: ctx.arg("PATH"),
          metadata: {
            description: stringOption(ctx, "description"),
            owner: stringOption(ctx, "owner"),
            tags: tags.length || ctx.opts["clear-tags"] ? fromJson(ListValueSchema, tags) : undefined,
          },
          options: secretOptions(ctx),
        });
        const json = messageJson(SecretMetadataSchema, res);
        if (ctx.json) return ctx.printJson(json);
        ctx.print(keyValues(json));
      },
    },
    {
      name: "list",
      summary: "List secrets (every page)",
      options: {
        prefix: { type: "string", value: "PREFIX", description: "Path prefix, e.g. environments/production/" },
        tag: { type: "string", multiple: true, value: "TAG", description: "Only secrets with this tag" },
        type: { type: "string", value: "TYPE", description: "Only secrets of this type" },
        "include-expired": { type: "boolean", description: "Include expired secrets" },
        limit: { type: "string", value: "N", description: "At most N rows" },
      },
      async run(ctx) {
        const client = await ctx.client();
        const rows = [];
        let total: { count: number; exact: boolean } | undefined;
        const pages = allPages(async (cursor, limit) => {
          const page = await client.secrets.listSecrets({
            prefix: stringOption(ctx, "prefix"),
            tag: listOption(ctx, "tag"),
            secretType: stringOption(ctx, "type"),
            includeExpired: ctx.opts["include-expired"] === true,
            limit,
            cursor,
          });
          total ??= { count: page.totalCount, exact: page.totalCountExact };
          return { rows: page.secrets, cursor: page.cursor, hasMore: page.hasMore };
        }, intOption(ctx, "limit"));
        for await (const row of pages) rows.push(messageJson(SecretListItemSchema, row));
        if (ctx.json) return ctx.printJson(rows);
        ctx.print(objectTable(["path", "version", "secret_type", "updated_at", "expires_at", "tags"], rows));
        if (total) ctx.print(`${rows.length.toLocaleString("en-US")} of ${total.count.toLocaleString("en-US")}${total.exact ? "" : "+"} matching secrets`);
      },
    },
    {
      name: "versions",
      summary: "List a secret's readable versions, newest first",
      args: ["PATH"],
      async run(ctx) {
        const res = await (await ctx.client()).secrets.listSecretVersions({ path: ctx.arg("PATH") });
        const rows = res.versions.map((v) => messageJson(SecretVersionInfoSchema, v));
        if (ctx.json) return ctx.printJson(rows);
        ctx.print(objectTable(["version", "created_at", "is_current", "readable_until"], rows));
      },
    },
    {
      name: "meta",
      summary: "Show a secret's metadata (never its value)",
      args: ["PATH"],
      async run(ctx) {
        const json = messageJson(SecretMetadataSchema, await (await ctx.client()).secrets.getSecretMetadata({ path: ctx.arg("PATH") }));
        if (ctx.json) return ctx.printJson(json);
        ctx.print(keyValues(json));
      },
    },
    {
      name: "delete",
      summary: "Soft-delete a secret (restorable), destroy it (--permanent) or destroy one version",
      args: ["PATH"],
      options: {
        permanent: { type: "boolean", description: "Destroy every version now (admin)" },
        version: { type: "string", value: "N", description: "Destroy this one non-current version" },
      },
      async run(ctx) {
        const res = await (await ctx.client()).secrets.deleteSecret({ path: ctx.arg("PATH"), permanent: ctx.opts.permanent === true, version: intOption(ctx, "version") });
        const json = messageJson(DeleteSecretResponseSchema, res);
        if (ctx.json) return ctx.printJson(json);
        ctx.print(keyValues(json));
      },
    },
    {
      name: "restore",
      summary: "Undo a soft delete",
      args: ["PATH"],
      async run(ctx) {
        const res = await (await ctx.client()).secrets.restoreSecret({ path: ctx.arg("PATH") });
        if (ctx.json) return ctx.printJson(messageJson(RestoreSecretResponseSchema, res));
        ctx.print(`restored ${res.path} version ${res.version}`);
      },
    },
    {
      name: "rotate",
      summary: "Write a new version now, keeping the previous one readable for a grace period",
      args: ["PATH"],
      options: {
        ...valueOptions,
        reason: { type: "string", value: "TEXT", description: "Why (kept in the rotation history)" },
        "grace-period": { type: "string", value: "DURATION", description: "How long the previous version stays readable (default 48h or the policy's)" },
      },
      details: "Without --file the service generates the value (the secret's rotation policy must auto-generate).\nWith --file (- for standard input) the new value is that JSON object, or with --key one string field.",
      async run(ctx) {
        const file = stringOption(ctx, "file");
        if (file === undefined && ctx.opts.key !== undefined) throw new UsageError("--key needs --file (- for standard input)");
        const newValue = file === undefined ? undefined : await readSecretData(ctx, file, stringOption(ctx, "key"));
        const res = await (await ctx.client()).secrets.rotateSecret({
          path: ctx.arg("PATH"),
          newValue,
          reason: stringOption(ctx, "reason"),
          gracePeriod: stringOption(ctx, "grace-period"),
        });
        const json = messageJson(RotateSecretResponseSchema, res);
        if (ctx.json) return ctx.printJson(json);
        ctx.print(`rotated ${res.path} to version ${res.version}; version ${res.previousVersion} readable until ${cell(json.previous_version_readable_until)}`);
      },
    },
    {
      name: "watch",
      summary: "Print changes of secrets as they happen (paths and versions, never values)",
      options: {
        prefix: { type: "string", value: "PREFIX", description: "Only paths starting with PREFIX, e.g. app/" },
        cursor: { type: "string", value: "EVENT_ID", description: "Resume after this event id" },
        count: { type: "string", value: "N", description: "Stop after N changes (default: run until interrupted)" },
      },
      details: "Reconnects and resumes by itself. With --json, one JSON object per line.",
      async run(ctx) {
        const count = intOption(ctx, "count");
        if (count !== undefined && count < 1) throw new UsageError("--count must be at least 1");
        let seen = 0;
        for await (const change of (await ctx.client()).secrets.watch({ prefix: stringOption(ctx, "prefix"), cursor: stringOption(ctx, "cursor") })) {
          const row = {
            event_id: change.eventId,
            event_type: change.eventType,
            path: change.path,
            version: change.version,
            stage: change.stage,
            created_at: change.createdAt?.toISOString() ?? null,
          };
          if (ctx.json) ctx.print(JSON.stringify(row));
          else ctx.print(`${row.created_at ?? ""}  ${row.event_type.padEnd(18)}  ${row.path}  v${row.version}${row.stage ? ` (${row.stage})` : ""}  ${row.event_id}`);
          if (count !== undefined && ++seen >= count) return;
        }
      },
    },
    {
      name: "expiring",
      summary: "List secrets that expire soon",
      options: { days: { type: "string", value: "N", description: "Window in days (default 30)" } },
      async run(ctx) {
        const res = await (await ctx.client()).secrets.listExpiringSecrets({ days: intOption(ctx, "days") });
        const rows = res.secrets.map((s) => messageJson(ExpiringSecretSchema, s));
        if (ctx.json) return ctx.printJson(rows);
        ctx.print(objectTable(["path", "expires_at", "days_remaining"], rows));
      },
    },
  ],
};

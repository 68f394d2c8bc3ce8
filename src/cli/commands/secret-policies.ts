import { fromJson } from "@bufbuild/protobuf";
import { ListValueSchema } from "@bufbuild/protobuf/wkt";
import { DeleteSecretPolicyResponseSchema, SecretPolicySchema, type SecretPolicy } from "../../../clients/typescript/src/index.js";
import type { CommandContext, GroupSpec, OptionSpec } from "../cli.js";
import { allPages, intOption, listOption, stringOption } from "../input.js";
import { keyValues, messageJson, objectTable } from "../output.js";

const generationOptions: Record<string, OptionSpec> = {
  description: { type: "string", value: "TEXT", description: "Description" },
  length: { type: "string", value: "N", description: "Length of generated values, 8 to 1024 (default 32)" },
  charset: { type: "string", value: "SET", description: "alphanumeric (default), ascii_printable, hex, base64url or custom" },
  chars: { type: "string", value: "CHARS", description: "The characters of a custom charset" },
  "require-uppercase": { type: "boolean", description: "At least one uppercase letter" },
  "require-lowercase": { type: "boolean", description: "At least one lowercase letter" },
  "require-digits": { type: "boolean", description: "At least one digit" },
  "require-symbols": { type: "boolean", description: "At least one symbol" },
  "exclude-chars": { type: "string", value: "CHARS", description: "Characters never used" },
  field: { type: "string", multiple: true, value: "KEY", description: "A data key rotations replace (default password)" },
};

const flag = (ctx: CommandContext, name: string) => (ctx.opts[name] === true ? true : undefined);

function generation(ctx: CommandContext) {
  return {
    description: stringOption(ctx, "description"),
    length: intOption(ctx, "length"),
    charset: stringOption(ctx, "charset"),
    chars: stringOption(ctx, "chars"),
    requireUppercase: flag(ctx, "require-uppercase"),
    requireLowercase: flag(ctx, "require-lowercase"),
    requireDigits: flag(ctx, "require-digits"),
    requireSymbols: flag(ctx, "require-symbols"),
    excludeChars: stringOption(ctx, "exclude-chars"),
  };
}

function printPolicy(ctx: CommandContext, policy: SecretPolicy) {
  const json = messageJson(SecretPolicySchema, policy);
  if (ctx.json) ctx.printJson(json);
  else ctx.print(keyValues(json));
}

/** `scaivault secret-policies ...` */
export const secretPolicyCommands: GroupSpec = {
  name: "secret-policies",
  summary: "Value-generation policies used by rotations",
  commands: [
    {
      name: "list",
      summary: "List secret policies",
      async run(ctx) {
        const client = await ctx.client();
        const rows = [];
        for await (const p of allPages(async (cursor) => {
          const page = await client.secretPolicies.listSecretPolicies({ cursor });
          return { rows: page.data, cursor: page.cursor, hasMore: page.hasMore };
        })) rows.push(messageJson(SecretPolicySchema, p));
        if (ctx.json) return ctx.printJson(rows);
        ctx.print(objectTable(["id", "name", "length", "charset", "fields"], rows));
      },
    },
    {
      name: "create",
      summary: "Create a secret policy (id sp_NAME); impossible policies are refused",
      args: ["NAME"],
      options: generationOptions,
      async run(ctx) {
        printPolicy(ctx, await (await ctx.client()).secretPolicies.createSecretPolicy({ name: ctx.arg("NAME"), ...generation(ctx), fields: listOption(ctx, "field") }));
      },
    },
    {
      name: "show",
      summary: "Show a secret policy",
      args: ["ID"],
      async run(ctx) {
        printPolicy(ctx, await (await ctx.client()).secretPolicies.getSecretPolicy({ id: ctx.arg("ID") }));
      },
    },
    {
      name: "update",
      summary: "Change the given fields of a secret policy",
      args: ["ID"],
      options: {
        ...generationOptions,
        "no-require-uppercase": { type: "boolean", description: "Stop requiring an uppercase letter" },
        "no-require-lowercase": { type: "boolean", description: "Stop requiring a lowercase letter" },
        "no-require-digits": { type: "boolean", description: "Stop requiring a digit" },
        "no-require-symbols": { type: "boolean", description: "Stop requiring a symbol" },
      },
      async run(ctx) {
        const off = (name: string) => (ctx.opts[`no-${name}`] === true ? false : undefined);
        const base = generation(ctx);
        const fields = listOption(ctx, "field");
        printPolicy(
          ctx,
          await (await ctx.client()).secretPolicies.updateSecretPolicy({
            id: ctx.arg("ID"),
            ...base,
            requireUppercase: base.requireUppercase ?? off("require-uppercase"),
            requireLowercase: base.requireLowercase ?? off("require-lowercase"),
            requireDigits: base.requireDigits ?? off("require-digits"),
            requireSymbols: base.requireSymbols ?? off("require-symbols"),
            fields: fields.length ? fromJson(ListValueSchema, fields) : undefined,
          }),
        );
      },
    },
    {
      name: "delete",
      summary: "Delete a secret policy",
      args: ["ID"],
      async run(ctx) {
        const json = messageJson(DeleteSecretPolicyResponseSchema, await (await ctx.client()).secretPolicies.deleteSecretPolicy({ id: ctx.arg("ID") }));
        if (ctx.json) return ctx.printJson(json);
        ctx.print(keyValues(json));
      },
    },
  ],
};

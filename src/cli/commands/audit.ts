import { timestampFromDate } from "@bufbuild/protobuf/wkt";
import { AuditEventSchema } from "../../../clients/typescript/src/index.js";
import type { GroupSpec } from "../cli.js";
import { allPages, dateOption, intOption, stringOption } from "../input.js";
import { messageJson, objectTable } from "../output.js";

/** `scaivault audit ...` */
export const auditCommands: GroupSpec = {
  name: "audit",
  summary: "The audit log",
  commands: [
    {
      name: "events",
      summary: "List audit events, newest first",
      options: {
        path: { type: "string", value: "PATH", description: "Only this secret path" },
        action: { type: "string", value: "METHOD", description: "Only this action (an RPC name such as GetSecret)" },
        actor: { type: "string", value: "SUB", description: "Only this actor" },
        since: { type: "string", value: "TIME", description: "Not before this RFC 3339 time" },
        until: { type: "string", value: "TIME", description: "Not after this RFC 3339 time" },
        limit: { type: "string", value: "N", description: "At most N rows (default 50)" },
      },
      async run(ctx) {
        const client = await ctx.client();
        const since = dateOption(ctx, "since");
        const until = dateOption(ctx, "until");
        const rows = [];
        for await (const event of allPages(async (cursor, limit) => {
          const page = await client.audit.listAuditEvents({
            path: stringOption(ctx, "path"),
            action: stringOption(ctx, "action"),
            actor: stringOption(ctx, "actor"),
            since: since && timestampFromDate(since),
            until: until && timestampFromDate(until),
            limit,
            cursor,
          });
          return { rows: page.data, cursor: page.cursor, hasMore: page.hasMore };
        }, intOption(ctx, "limit") ?? 50)) rows.push(messageJson(AuditEventSchema, event));
        if (ctx.json) return ctx.printJson(rows);
        ctx.print(objectTable(["time", "actor", "action", "path", "version", "outcome"], rows));
      },
    },
  ],
};

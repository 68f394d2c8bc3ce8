import { getOption, hasOption, ScalarType, type DescField, type DescMessage, type DescMethod, type DescService } from "@bufbuild/protobuf";
import { http } from "../../gen/google/api/annotations_pb.js";
import type { HttpRule } from "../../gen/google/api/http_pb.js";
import { access, json_null } from "../../gen/scaivault/v1/options_pb.js";
import { errorCodes } from "../errors.js";
import { parsePathTemplate, type Segment } from "../transport/path-template.js";
import { protoComments } from "../../gen/proto-comments.js";
import { commentKey, type CommentedDesc } from "./proto-comments.js";

// The OpenAPI 3.1 document of the REST API, built from the same descriptors and
// `google.api.http` annotations the REST transcoder routes by: nothing here lists a route.

type Json = Record<string, unknown>;

/**
 * Methods whose handler answers 201: always (a create), or only when the call created the
 * resource (200 otherwise). The protos carry no status, so this is the one place that says it.
 */
const createdStatus: Record<string, "always" | "when-created"> = {
  "scaivault.v1.SecretsService.PutSecret": "when-created",
  "scaivault.v1.SecretsService.PutPartnerSecret": "when-created",
  "scaivault.v1.RotationService.CreateRotationPolicy": "always",
  "scaivault.v1.RotationService.AssignSecret": "when-created",
  "scaivault.v1.SecretPolicyService.CreateSecretPolicy": "always",
  "scaivault.v1.WebhookService.CreateWebhook": "always",
};

/** Well-known types with a JSON form of their own. */
const wellKnown: Record<string, Json> = {
  "google.protobuf.Timestamp": { type: "string", format: "date-time", description: "RFC 3339 UTC, e.g. `2026-04-23T14:00:00Z`." },
  "google.protobuf.Duration": { type: "string", description: "Seconds with an `s` suffix, e.g. `3.5s`." },
  "google.protobuf.Struct": { type: "object", additionalProperties: true },
  "google.protobuf.ListValue": { type: "array", items: {} },
  "google.protobuf.Value": {},
  "google.protobuf.Empty": { type: "object" },
  "google.protobuf.FieldMask": { type: "string", description: "Comma-separated field paths." },
  "google.protobuf.BoolValue": { type: "boolean" },
  "google.protobuf.StringValue": { type: "string" },
  "google.protobuf.BytesValue": { type: "string", contentEncoding: "base64" },
  "google.protobuf.Int32Value": { type: "integer", format: "int32" },
  "google.protobuf.UInt32Value": { type: "integer", format: "int64", minimum: 0 },
  "google.protobuf.Int64Value": { type: "string", format: "int64" },
  "google.protobuf.UInt64Value": { type: "string", format: "int64" },
  "google.protobuf.FloatValue": { type: "number", format: "float" },
  "google.protobuf.DoubleValue": { type: "number", format: "double" },
};

/** Types a query string cannot express. */
const notInQuery = new Set(["google.protobuf.Struct", "google.protobuf.ListValue", "google.protobuf.Value", "google.protobuf.Empty"]);

function scalarSchema(type: ScalarType): Json {
  switch (type) {
    case ScalarType.BOOL:
      return { type: "boolean" };
    case ScalarType.STRING:
      return { type: "string" };
    case ScalarType.BYTES:
      return { type: "string", contentEncoding: "base64" };
    case ScalarType.DOUBLE:
      return { type: "number", format: "double" };
    case ScalarType.FLOAT:
      return { type: "number", format: "float" };
    case ScalarType.INT32:
    case ScalarType.SINT32:
    case ScalarType.SFIXED32:
      return { type: "integer", format: "int32" };
    case ScalarType.UINT32:
    case ScalarType.FIXED32:
      return { type: "integer", format: "int64", minimum: 0 };
    default:
      // 64-bit integers are strings in the protobuf JSON mapping.
      return { type: "string", format: "int64" };
  }
}

/** What the document is built from. */
export interface OpenApiOptions {
  title?: string;
  version: string;
  /** The services served; only methods with an http annotation become routes. */
  services: readonly DescService[];
  /** Leading proto comments by full name (default: the ones `npm run generate` extracted). */
  comments?: Readonly<Record<string, string>>;
}

/** Builds the OpenAPI 3.1 document of every REST route of the given services. */
export function createOpenApiDocument(options: OpenApiOptions): Json {
  const comments = options.comments ?? protoComments;
  const commentOf = (desc: CommentedDesc): string | undefined => comments[commentKey(desc)];
  const services = options.services.filter((s) => s.methods.some((m) => hasOption(m, http)));
  const schemas: Record<string, Json> = {};
  const requestTypes = reachableMessages(services.map((s) => s.methods.map((m) => m.input)).flat());
  const paths: Record<string, Record<string, Json>> = {};

  /** A `$ref` to the message's schema, adding it (and what it references) to the components. */
  function refTo(message: DescMessage): Json {
    const known = wellKnown[message.typeName];
    if (known) return { ...known };
    const name = schemaName(message);
    if (!(name in schemas)) {
      schemas[name] = {}; // placeholder first: messages may refer to themselves
      schemas[name] = messageSchema(message, new Set(), !requestTypes.has(message));
    }
    return { $ref: `#/components/schemas/${name}` };
  }

  /** An object schema of the message's fields (without `omit`); response messages list their always-present fields as required. */
  function messageSchema(message: DescMessage, omit: ReadonlySet<string>, isResponse: boolean): Json {
    const properties: Record<string, Json> = {};
    const required: string[] = [];
    for (const field of message.fields) {
      if (omit.has(field.name)) continue;
      properties[field.name] = fieldSchema(field);
      // The service's JSON always emits implicit-presence fields and `json_null` ones.
      const alwaysPresent = (field.fieldKind !== "message" && !field.proto.proto3Optional && !field.oneof) || getOption(field, json_null);
      if (isResponse && alwaysPresent) required.push(field.name);
    }
    return withDescription({ type: "object", properties, ...(required.length ? { required } : {}), additionalProperties: false }, commentOf(message));
  }

  function fieldSchema(field: DescField): Json {
    let schema: Json;
    switch (field.fieldKind) {
      case "scalar":
        schema = scalarSchema(field.scalar);
        break;
      case "enum":
        schema = { type: "string", enum: field.enum.values.map((v) => v.name) };
        break;
      case "message":
        schema = refTo(field.message);
        break;
      case "list":
        schema = {
          type: "array",
          items: field.listKind === "scalar" ? scalarSchema(field.scalar) : field.listKind === "enum" ? { type: "string", enum: field.enum.values.map((v) => v.name) } : refTo(field.message),
        };
        break;
      case "map":
        schema = {
          type: "object",
          additionalProperties: field.mapKind === "scalar" ? scalarSchema(field.scalar) : field.mapKind === "enum" ? { type: "string" } : refTo(field.message),
        };
        break;
    }
    if (getOption(field, json_null)) schema = nullable(schema);
    return withDescription(schema, commentOf(field));
  }

  function operationOf(service: DescService, method: DescMethod, rule: HttpRule, binding: HttpRule, index: number): { path: string; verb: string; operation: Json } {
    const { pattern } = binding;
    if (pattern.case === undefined || pattern.case === "custom") throw new Error(`${method.toString()}: unsupported google.api.http pattern`);
    const template = parsePathTemplate(pattern.value);
    const pathVariables = template.segments.filter((s): s is Extract<Segment, { kind: "variable" }> => s.kind === "variable");
    const bound = new Set(pathVariables.map((v) => v.fieldPath.split(".")[0]!));
    const path = "/" + template.segments.map((s) => (s.kind === "literal" ? s.value : `{${s.fieldPath}}`)).join("/");

    const parameters: Json[] = pathVariables.map((v) => pathParameter(method.input, v, commentOf));
    if (binding.body !== "*") {
      for (const field of method.input.fields) {
        if (!bound.has(field.name) && field.name !== binding.body) parameters.push(...queryParameters(field, ""));
      }
    }

    const comment = commentOf(method) ?? "";
    const rule_ = getOption(method, access);
    const alternatives = rule_.partnerAdmin ? [["partner_admin"]] : rule_.anyScope.map((s) => [s]);
    const scopeText = rule_.partnerAdmin
      ? "**Required:** a partner administrator (role `partner_admin`)."
      : `**Required scope:** ${rule_.anyScope.map((s) => `\`${s}\``).join(" or ")}${rule_.anyScope.includes("admin") ? "" : " (or `admin`, which holds every tenant scope)"}.`;

    const operation: Json = {
      operationId: `${service.name}_${method.name}${index === 0 ? "" : `_${index + 1}`}`,
      tags: [service.name],
      summary: firstSentence(comment).replaceAll("`", "") || method.name,
      description: [comment, scopeText, `gRPC / Connect: \`${service.typeName}/${method.name}\`.`].filter(Boolean).join("\n\n"),
      parameters,
      responses: responsesOf(method, rule),
      security: alternatives.map((scopes) => ({ bearerAuth: scopes })),
      "x-required-scopes": rule_.partnerAdmin ? [] : rule_.anyScope,
    };
    if (index > 0 && /deprecated/i.test(comment) && comment.includes(pattern.value)) operation.deprecated = true;
    if (binding.body === "*") {
      const name = `${schemaName(method.input)}${bound.size ? "Body" : ""}`;
      schemas[name] ??= messageSchema(method.input, bound, false);
      operation.requestBody = { required: true, content: { "application/json": { schema: { $ref: `#/components/schemas/${name}` } } } };
    } else if (binding.body !== "") {
      const field = method.input.fields.find((f) => f.name === binding.body)!;
      operation.requestBody = { required: true, content: { "application/json": { schema: fieldSchema(field) } } };
    }
    return { path, verb: pattern.case, operation };
  }

  function responsesOf(method: DescMethod, rule: HttpRule): Json {
    const field = rule.responseBody ? method.output.fields.find((f) => f.name === rule.responseBody) : undefined;
    const schema = field ? fieldSchema(field) : refTo(method.output);
    // A server stream is Server-Sent Events: each `data:` line is one message of this schema.
    const content = method.methodKind === "server_streaming" ? { "text/event-stream": { schema } } : { "application/json": { schema } };
    const created = createdStatus[`${method.parent.typeName}.${method.name}`];
    const responses: Json = {};
    if (created !== "always") responses["200"] = { description: created ? "Updated (the resource existed)." : "OK", content };
    if (created) responses["201"] = { description: "Created.", content };
    for (const status of ["401", "403", "4XX", "5XX"]) responses[status] = { $ref: "#/components/responses/Error" };
    return responses;
  }

  function queryParameters(field: DescField, prefix: string): Json[] {
    const name = prefix + field.name;
    const description = commentOf(field);
    if (field.fieldKind === "message" && !wellKnown[field.message.typeName]) {
      // Nested fields are named with dots (`options.cas`); a recursive message stops somewhere.
      return prefix.split(".").length > 3 ? [] : field.message.fields.flatMap((f) => queryParameters(f, `${name}.`));
    }
    if (field.fieldKind === "map" || (field.fieldKind === "message" && notInQuery.has(field.message.typeName))) return [];
    if (field.fieldKind === "list" && field.listKind === "message") return [];
    const schema = fieldSchema(field);
    delete schema.description;
    return [withDescription({ name, in: "query", required: false, schema, ...(field.fieldKind === "list" ? { style: "form", explode: true } : {}) }, description)];
  }

  for (const service of services) {
    for (const method of service.methods) {
      if (!hasOption(method, http)) continue;
      const rule = getOption(method, http);
      [rule, ...rule.additionalBindings].forEach((binding, index) => {
        const { path, verb, operation } = operationOf(service, method, rule, binding, index);
        (paths[path] ??= {})[verb] = operation;
      });
    }
  }

  return {
    openapi: "3.1.0",
    info: {
      title: options.title ?? "ScaiVault API",
      version: options.version,
      description: apiDescription,
    },
    tags: services.map((s) => withDescription({ name: s.name }, commentOf(s))),
    security: [{ bearerAuth: [] }],
    paths,
    components: {
      securitySchemes: {
        bearerAuth: {
          type: "http",
          scheme: "bearer",
          bearerFormat: "JWT",
          description:
            "A JWT with the claims `sub`, `tenant_id`, `scope` (space separated) or `scp` (array), optionally `partner_id` and `roles: [\"partner_admin\"]`. Scopes: `secrets:read`, `secrets:write`, `secrets:delete`, `secrets:rotate`, `audit:read`, `admin`; operators of the tenant registry hold `platform:admin`.",
        },
      },
      responses: {
        Error: { description: "An error with the contract's code.", content: { "application/json": { schema: { $ref: "#/components/schemas/Error" } } } },
      },
      schemas: { ...schemas, Error: errorSchema() },
    },
  };
}

const apiDescription = [
  "Versioned, encrypted secrets at paths, rotation policies, value generation and signed webhooks. Every route is also a gRPC, gRPC-web and Connect method of the same service, on the same port.",
  "**Paths.** `{path}` is a secret path and may span several segments (`environments/production/db`): send its slashes as they are. A single-segment parameter such as `{secret_path}` takes a path URL-encoded (`team%2Fdb`).",
  "**Cross-tenant calls.** A partner administrator prefixes any route with `/v1/t/{tenant_id}/` to act on a tenant of its partner.",
  "**Pagination.** List routes take `limit` and an opaque `cursor`; answers carry `cursor` (`null` on the last page) and `has_more`.",
  "**Errors.** The HTTP status plus `{\"error\": {\"code\", \"message\", \"request_id\"}}`; gRPC and Connect carry the same code as the reason of a `google.rpc.ErrorInfo`.",
].join("\n\n");

function errorSchema(): Json {
  const table = Object.entries(errorCodes)
    .map(([code, { http: status }]) => `| \`${code}\` | ${status} |`)
    .join("\n");
  return {
    type: "object",
    required: ["error"],
    properties: {
      error: {
        type: "object",
        required: ["code", "message", "request_id"],
        properties: {
          code: { type: "string", enum: Object.keys(errorCodes), description: `The contract's error code.\n\n| code | HTTP |\n|---|---|\n${table}` },
          message: { type: "string", description: "Safe to show; never holds secret values or internals." },
          request_id: { type: "string", description: "Also in the `x-request-id` response header." },
        },
      },
    },
  };
}

function pathParameter(input: DescMessage, variable: Extract<Segment, { kind: "variable" }>, commentOf: (desc: CommentedDesc) => string | undefined): Json {
  const field = input.fields.find((f) => f.name === variable.fieldPath.split(".")[0]);
  const base = (field && commentOf(field)) ?? "";
  const how = variable.multi
    ? "May span several segments: its slashes are sent as they are (`environments/production/db`)."
    : "One segment: URL-encode any slash in it (`team%2Fdb`).";
  return {
    name: variable.fieldPath,
    in: "path",
    required: true,
    schema: { type: "string" },
    description: [base, how].filter(Boolean).join(" "),
    ...(variable.multi ? { "x-multi-segment": true } : {}),
  };
}

/** Every message type reachable from the given ones (what requests may contain). */
function reachableMessages(roots: readonly DescMessage[]): Set<DescMessage> {
  const seen = new Set<DescMessage>();
  const pending = [...roots];
  for (let next = pending.pop(); next; next = pending.pop()) {
    if (seen.has(next)) continue;
    seen.add(next);
    for (const field of next.fields) {
      if (field.fieldKind === "message" || (field.fieldKind === "list" && field.listKind === "message") || (field.fieldKind === "map" && field.mapKind === "message")) {
        pending.push(field.message);
      }
    }
  }
  return seen;
}

function schemaName(message: DescMessage): string {
  const pkg = message.file.proto.package;
  return (pkg === "scaivault.v1" ? message.typeName.slice(pkg.length + 1) : message.typeName).replace(/[^A-Za-z0-9._-]/g, "_");
}

function nullable(schema: Json): Json {
  if (typeof schema.type === "string") return { ...schema, type: [schema.type, "null"] };
  return { anyOf: [schema, { type: "null" }] };
}

function withDescription<T extends Json>(schema: T, description: string | undefined): T {
  return description ? { ...schema, description } : schema;
}

function firstSentence(text: string): string {
  const line = text.split("\n")[0] ?? "";
  const end = line.search(/\.(\s|$)/);
  return end < 0 ? line : line.slice(0, end);
}

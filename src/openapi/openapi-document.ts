import { getOption, hasOption, ScalarType, type DescField, type DescMessage, type DescMethod, type DescService } from "@bufbuild/protobuf";
import { http } from "../../gen/google/api/annotations_pb.js";
import { access, json_null } from "../../gen/scaivault/v1/options_pb.js";
import { errorCodes } from "../errors.js";
import type { Segment } from "../transport/path-template.js";
import { restRoutesOf, type RestRoute } from "../transport/rest-routes.js";
import { protoComments } from "../../gen/proto-comments.js";
import { commentKey, type CommentedDesc } from "./proto-comments.js";

// The OpenAPI 3.1 document of the REST API, built from the REST transcoder's own route table
// (rest-routes.ts, derived from the `google.api.http` annotations): nothing here lists a route.

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

/** What building one document accumulates: the component schemas, and how to find comments. */
interface DocumentParts {
  readonly schemas: Record<string, Json>;
  /** Messages reachable from a request: their schemas list no required fields. */
  readonly requestTypes: ReadonlySet<DescMessage>;
  readonly commentOf: (desc: CommentedDesc) => string | undefined;
}

/** Builds the OpenAPI 3.1 document of every REST route of the given services. */
export function createOpenApiDocument(options: OpenApiOptions): Json {
  const comments = options.comments ?? protoComments;
  const services = options.services.filter((s) => s.methods.some((m) => hasOption(m, http)));
  const parts: DocumentParts = {
    schemas: {},
    requestTypes: reachableMessages(services.flatMap((s) => s.methods.map((m) => m.input))),
    commentOf: (desc) => comments[commentKey(desc)],
  };
  const paths: Record<string, Record<string, Json>> = {};
  // The transcoder's own route table, taken method by method in the protos' binding order.
  const routes = restRoutesOf(services.flatMap((s) => s.methods));
  for (const service of services) {
    for (const method of service.methods) {
      for (const { route, index } of bindingsOf(method, routes)) {
        const { path, operation } = operationOf(parts, service, route, index);
        (paths[path] ??= {})[route.httpMethod.toLowerCase()] = operation;
      }
    }
  }
  return {
    openapi: "3.1.0",
    info: { title: options.title ?? "ScaiVault API", version: options.version, description: apiDescription },
    tags: services.map((s) => withDescription({ name: s.name }, parts.commentOf(s))),
    security: [{ bearerAuth: [] }],
    paths,
    components: {
      securitySchemes: { bearerAuth: bearerAuthScheme },
      responses: {
        Error: { description: "An error with the contract's code.", content: { "application/json": { schema: { $ref: "#/components/schemas/Error" } } } },
      },
      schemas: { ...parts.schemas, Error: errorSchema() },
    },
  };
}

const bearerAuthScheme: Json = {
  type: "http",
  scheme: "bearer",
  bearerFormat: "JWT",
  description:
    "A JWT with the claims `sub`, `tenant_id`, `scope` (space separated) or `scp` (array), optionally `partner_id` and `roles: [\"partner_admin\"]`. Scopes: `secrets:read`, `secrets:write`, `secrets:delete`, `secrets:rotate`, `audit:read`, `admin`; operators of the tenant registry hold `platform:admin`.",
};

/** A method's routes with the index of their binding (0: the main rule, then `additional_bindings`). */
function bindingsOf(method: DescMethod, routes: readonly RestRoute[]): Array<{ route: RestRoute; index: number }> {
  const rule = getOption(method, http);
  const sources = [rule, ...rule.additionalBindings].map((binding) => binding.pattern.value);
  return routes
    .filter((route) => route.method === method)
    .map((route) => ({ route, index: sources.indexOf(route.template.source) }))
    .sort((a, b) => a.index - b.index);
}

/** A `$ref` to the message's schema, adding it (and what it references) to the components. */
function refTo(parts: DocumentParts, message: DescMessage): Json {
  const known = wellKnown[message.typeName];
  if (known) return { ...known };
  const name = schemaName(message);
  if (!(name in parts.schemas)) {
    parts.schemas[name] = {}; // placeholder first: messages may refer to themselves
    parts.schemas[name] = messageSchema(parts, message, new Set(), !parts.requestTypes.has(message));
  }
  return { $ref: `#/components/schemas/${name}` };
}

/** An object schema of the message's fields (without `omit`); response messages list their always-present fields as required. */
function messageSchema(parts: DocumentParts, message: DescMessage, omit: ReadonlySet<string>, isResponse: boolean): Json {
  const properties: Record<string, Json> = {};
  const required: string[] = [];
  for (const field of message.fields) {
    if (omit.has(field.name)) continue;
    properties[field.name] = fieldSchema(parts, field);
    // The service's JSON always emits implicit-presence fields and `json_null` ones.
    const alwaysPresent = (field.fieldKind !== "message" && !field.proto.proto3Optional && !field.oneof) || getOption(field, json_null);
    if (isResponse && alwaysPresent) required.push(field.name);
  }
  return withDescription({ type: "object", properties, ...(required.length ? { required } : {}), additionalProperties: false }, parts.commentOf(message));
}

function fieldSchema(parts: DocumentParts, field: DescField): Json {
  let schema: Json;
  switch (field.fieldKind) {
    case "scalar":
      schema = scalarSchema(field.scalar);
      break;
    case "enum":
      schema = { type: "string", enum: field.enum.values.map((v) => v.name) };
      break;
    case "message":
      schema = refTo(parts, field.message);
      break;
    case "list":
      schema = {
        type: "array",
        items: field.listKind === "scalar" ? scalarSchema(field.scalar) : field.listKind === "enum" ? { type: "string", enum: field.enum.values.map((v) => v.name) } : refTo(parts, field.message),
      };
      break;
    case "map":
      schema = {
        type: "object",
        additionalProperties: field.mapKind === "scalar" ? scalarSchema(field.scalar) : field.mapKind === "enum" ? { type: "string" } : refTo(parts, field.message),
      };
      break;
  }
  if (getOption(field, json_null)) schema = nullable(schema);
  return withDescription(schema, parts.commentOf(field));
}

/** The OpenAPI operation of one REST route; `index` > 0 for an additional binding. */
function operationOf(parts: DocumentParts, service: DescService, route: RestRoute, index: number): { path: string; operation: Json } {
  const { method, template } = route;
  const pathVariables = template.segments.filter((s): s is Extract<Segment, { kind: "variable" }> => s.kind === "variable");
  const bound = new Set(pathVariables.map((v) => v.fieldPath.split(".")[0]!));
  const path = "/" + template.segments.map((s) => (s.kind === "literal" ? s.value : `{${s.fieldPath}}`)).join("/") + (template.verb ? `:${template.verb}` : "");

  const parameters: Json[] = pathVariables.map((v) => pathParameter(method.input, v, parts.commentOf));
  if (route.body !== "*") {
    for (const field of method.input.fields) {
      if (!bound.has(field.name) && field.name !== route.body) parameters.push(...queryParameters(parts, field, ""));
    }
  }

  const comment = parts.commentOf(method) ?? "";
  const operation: Json = {
    operationId: `${service.name}_${method.name}${index === 0 ? "" : `_${index + 1}`}`,
    tags: [service.name],
    summary: firstSentence(comment).replaceAll("`", "") || method.name,
    description: [comment, scopeTextOf(method), `gRPC / Connect: \`${service.typeName}/${method.name}\`.`].filter(Boolean).join("\n\n"),
    parameters,
    responses: responsesOf(parts, method, route.responseBody),
    ...securityOf(method),
  };
  if (index > 0 && /deprecated/i.test(comment) && comment.includes(template.source)) operation.deprecated = true;
  if (route.body === "*") {
    const name = `${schemaName(method.input)}${bound.size ? "Body" : ""}`;
    parts.schemas[name] ??= messageSchema(parts, method.input, bound, false);
    operation.requestBody = { required: true, content: { "application/json": { schema: { $ref: `#/components/schemas/${name}` } } } };
  } else if (route.body !== "") {
    const field = method.input.fields.find((f) => f.name === route.body)!;
    operation.requestBody = { required: true, content: { "application/json": { schema: fieldSchema(parts, field) } } };
  }
  return { path, operation };
}

/** The scopes a method needs, as prose for its description. */
function scopeTextOf(method: DescMethod): string {
  const rule = getOption(method, access);
  if (rule.partnerAdmin) return "**Required:** a partner administrator (role `partner_admin`).";
  const scopes = rule.anyScope.map((s) => `\`${s}\``).join(" or ");
  return `**Required scope:** ${scopes}${rule.anyScope.includes("admin") ? "" : " (or `admin`, which holds every tenant scope)"}.`;
}

/** The scopes a method needs, as OpenAPI security alternatives and `x-required-scopes`. */
function securityOf(method: DescMethod): Json {
  const rule = getOption(method, access);
  const alternatives = rule.partnerAdmin ? [["partner_admin"]] : rule.anyScope.map((s) => [s]);
  return { security: alternatives.map((scopes) => ({ bearerAuth: scopes })), "x-required-scopes": rule.partnerAdmin ? [] : rule.anyScope };
}

function responsesOf(parts: DocumentParts, method: DescMethod, responseBody: string): Json {
  const field = responseBody ? method.output.fields.find((f) => f.name === responseBody) : undefined;
  const schema = field ? fieldSchema(parts, field) : refTo(parts, method.output);
  // A server stream is Server-Sent Events: each `data:` line is one message of this schema.
  const content = method.methodKind === "server_streaming" ? { "text/event-stream": { schema } } : { "application/json": { schema } };
  const created = createdStatus[`${method.parent.typeName}.${method.name}`];
  const responses: Json = {};
  if (created !== "always") responses["200"] = { description: created ? "Updated (the resource existed)." : "OK", content };
  if (created) responses["201"] = { description: "Created.", content };
  for (const status of ["401", "403", "4XX", "5XX"]) responses[status] = { $ref: "#/components/responses/Error" };
  return responses;
}

function queryParameters(parts: DocumentParts, field: DescField, prefix: string): Json[] {
  const name = prefix + field.name;
  const description = parts.commentOf(field);
  if (field.fieldKind === "message" && !wellKnown[field.message.typeName]) {
    // Nested fields are named with dots (`options.cas`); a recursive message stops somewhere.
    return prefix.split(".").length > 3 ? [] : field.message.fields.flatMap((f) => queryParameters(parts, f, `${name}.`));
  }
  if (field.fieldKind === "map" || (field.fieldKind === "message" && notInQuery.has(field.message.typeName))) return [];
  if (field.fieldKind === "list" && field.listKind === "message") return [];
  const schema = fieldSchema(parts, field);
  delete schema.description;
  return [withDescription({ name, in: "query", required: false, schema, ...(field.fieldKind === "list" ? { style: "form", explode: true } : {}) }, description)];
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

import { getOption, hasOption, type DescMethod, type DescMethodServerStreaming, type DescMethodUnary } from "@bufbuild/protobuf";
import { http } from "../../gen/google/api/annotations_pb.js";
import type { HttpRule } from "../../gen/google/api/http_pb.js";
import { queryParamNames, resolveFieldPath } from "./http-params.js";
import { compareSpecificity, matchPathSegments, parsePathTemplate, type PathTemplate } from "./path-template.js";

// The REST route table, derived from the `google.api.http` annotations and never written by hand.
// Precedence: routes are ranked most specific first (more literal segments, then fewer
// wildcards), and a request takes the first route that matches both its path and its method,
// so `GET /v1/secrets/metadata/x` is GetSecretMetadata and `PUT /v1/secrets/metadata/x` is still
// PutSecret (whose handler then rejects the reserved path).

/** One REST binding of an RPC, taken from its `google.api.http` rule or one of its `additional_bindings`. */
export interface RestRoute {
  readonly httpMethod: string;
  readonly template: PathTemplate;
  /** `""` (no body), `"*"` (the whole request) or the name of the one field the body holds. */
  readonly body: string;
  /** `""` (the whole response) or the name of the one response field to send. */
  readonly responseBody: string;
  /** A unary method, or a server-streaming one served as Server-Sent Events (GET only). */
  readonly method: DescMethodUnary | DescMethodServerStreaming;
  /** The query parameters the route takes (dotted proto names); any other is refused. */
  readonly queryParams: ReadonlySet<string>;
}

/** Lists the REST routes of the given methods, most specific first; throws on templates the router cannot serve. */
export function restRoutesOf(methods: readonly DescMethod[]): RestRoute[] {
  const routes: RestRoute[] = [];
  for (const method of methods) {
    if (!hasOption(method, http)) continue;
    const rule = getOption(method, http);
    if (method.methodKind === "server_streaming") {
      if (rule.pattern.case !== "get" || rule.additionalBindings.length > 0 || rule.responseBody !== "") {
        throw new Error(`${method.toString()}: a server stream is served as Server-Sent Events on one GET binding`);
      }
    } else if (method.methodKind !== "unary") {
      throw new Error(`${method.toString()}: REST bindings need a unary or server-streaming method`);
    }
    for (const binding of [rule, ...rule.additionalBindings]) routes.push(routeOf(method as DescMethodUnary | DescMethodServerStreaming, binding, rule.responseBody));
  }
  return routes.sort((a, b) => compareSpecificity(a.template, b.template));
}

function routeOf(method: DescMethodUnary | DescMethodServerStreaming, binding: HttpRule, responseBody: string): RestRoute {
  const { pattern } = binding;
  if (pattern.case === undefined || pattern.case === "custom") {
    throw new Error(`${method.toString()}: unsupported google.api.http pattern`);
  }
  const { input, output } = method;
  if (binding.body !== "" && binding.body !== "*" && !input.fields.some((f) => f.name === binding.body)) {
    throw new Error(`${method.toString()}: body field "${binding.body}" is not a field of ${input.typeName}`);
  }
  if (responseBody !== "" && !output.fields.some((f) => f.name === responseBody)) {
    throw new Error(`${method.toString()}: response_body "${responseBody}" is not a field of ${output.typeName}`);
  }
  const template = parsePathTemplate(pattern.value);
  for (const segment of template.segments) {
    if (segment.kind === "variable" && !resolveFieldPath(input, segment.fieldPath)) {
      throw new Error(`${method.toString()}: path variable "${segment.fieldPath}" is not a field of ${input.typeName}`);
    }
  }
  // As google.api.http has it: with `body: "*"` every field not in the path is in the body, so the query takes none.
  const bound = template.segments.flatMap((s) => (s.kind === "variable" ? [s.fieldPath.split(".")[0]!] : []));
  if (binding.body !== "") bound.push(binding.body);
  const queryParams = new Set(binding.body === "*" ? [] : queryParamNames(input, bound));
  return { httpMethod: pattern.case.toUpperCase(), template, body: binding.body, responseBody, method, queryParams };
}

/** A route and its decoded path variables, or the methods the path allows. */
export type RouteMatch = { route: RestRoute; variables: Record<string, string> } | { allow: string };

/** The most specific route for the method, or the methods the path allows (405), or undefined (404). */
export function findRoute(routes: readonly RestRoute[], method: string, rawPath: string): RouteMatch | undefined {
  if (!rawPath.startsWith("/")) return undefined;
  const parts = rawPath.slice(1).split("/");
  const allowed = new Set<string>();
  for (const route of routes) {
    const variables = matchPathSegments(route.template, parts);
    if (!variables) continue;
    if (route.httpMethod === method) return { route, variables };
    allowed.add(route.httpMethod);
  }
  return allowed.size > 0 ? { allow: [...allowed].join(", ") } : undefined;
}

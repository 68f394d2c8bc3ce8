import { toJson, type DescMethod, type JsonObject, type JsonValue } from "@bufbuild/protobuf";
import { ConnectError } from "@connectrpc/connect";
import type { UniversalServerRequest, UniversalServerResponse } from "@connectrpc/connect/protocol";
import { httpCodeHeader, requestIdKey, targetTenantHeader } from "../auth/principal.js";
import { contractCodeOf, ScaiVaultError } from "../errors.js";
import type { Logger } from "../log.js";
import { mergeQueryParams, setPathVariable } from "./http-params.js";
import { jsonOptions } from "./json-options.js";
import { addJsonNulls } from "./json-nulls.js";
import { prefixTenantOf } from "./request-guards.js";
import { requestFromJson } from "./request-json.js";
import { errorResponse, jsonResponse } from "./rest-response.js";
import { findRoute, restRoutesOf, type RestRoute } from "./rest-routes.js";
import type { DirectResult, UnaryInvoker } from "./unary-invoker.js";
import { isByteStream, readRequestBytes } from "./universal-io.js";

export interface RestTranscoderOptions {
  /** Every method served; those with an http annotation get REST routes. */
  methods: readonly DescMethod[];
  /** Runs a method's interceptors and implementation. */
  invoker: UnaryInvoker;
  logger: Logger;
  maxBodyBytes: number;
}

/** Serves one REST request; `url` is the request's URL, parsed once by the dispatcher. */
export type RestTranscoder = (req: UniversalServerRequest, url: URL) => Promise<UniversalServerResponse>;

/** Response headers set inside the call (the status hint) that REST clients must not see. */
const innerResponseHeaders = /^(content-type|content-length|content-encoding|vary|connect-.*|grpc-.*|trailer-.*|x-http-code)$/i;
/** A route under `/v1/t/{tenant_id}/` acts on another tenant; the auth interceptor decides if that is allowed. */
const tenantPrefix = /^\/v1\/t\/([^/]+)(\/.*)$/;

/**
 * Serves REST/JSON by calling each request's method directly on its implementation through the
 * unary invoker, so that interceptors (auth, audit, errors) run exactly as for the other
 * protocols. The JSON mapping (strict parsing with field-naming errors, snake_case output,
 * `json_null`) is done here, and no wire format sits between the JSON and the handler.
 */
export function createRestTranscoder(options: RestTranscoderOptions): RestTranscoder {
  const routes = restRoutesOf(options.methods);
  const { invoker, logger, maxBodyBytes } = options;

  return async function transcode(req: UniversalServerRequest, url: URL): Promise<UniversalServerResponse> {
    const requestId = req.contextValues?.get(requestIdKey) ?? "";
    try {
      let header = req.header;
      let rawPath = url.pathname;
      const tenant = tenantPrefix.exec(rawPath);
      if (tenant) {
        header = new Headers(header);
        header.set(targetTenantHeader, prefixTenantOf(tenant[1]!));
        rawPath = "/v1" + tenant[2]!;
      }

      const found = findRoute(routes, req.method, rawPath);
      if (found === undefined) return errorResponse("not_found", "no route matches this path", requestId);
      if ("allow" in found) {
        return errorResponse("method_not_allowed", `${req.method} is not allowed here`, requestId, new Headers({ allow: found.allow }));
      }
      const { route, variables } = found;

      const fields = await requestJsonOf(route, variables, req, url.searchParams, maxBodyBytes);
      const message = requestFromJson(route.method.input, fields);
      let result: DirectResult;
      try {
        result = await invoker.invoke(route.method, message, {
          protocolName: "rest",
          requestMethod: req.method,
          url: req.url,
          header,
          contextValues: req.contextValues!,
          signal: () => req.signal,
        });
      } catch (err) {
        // The error interceptor turned it into the contract's error and logged internal causes;
        // only the safe text goes out.
        const { code, message } = contractCodeOf(err);
        return errorResponse(code, code === "internal" ? "internal error" : message, requestId, responseHeadersOf(err instanceof ConnectError ? err.metadata : undefined));
      }
      return restResponseOf(route, result, requestId, logger);
    } catch (err) {
      if (err instanceof ScaiVaultError) return errorResponse(err.code, err.message, requestId);
      if (err instanceof URIError) return errorResponse("invalid_request", "malformed percent-encoding in the URL path", requestId);
      logger.error("REST request failed", { requestId, err });
      return errorResponse("internal", "internal error", requestId);
    }
  };
}

/** The request's JSON: query parameters, overridden by the body, overridden by path variables. */
async function requestJsonOf(
  route: RestRoute,
  variables: Record<string, string>,
  req: UniversalServerRequest,
  query: URLSearchParams,
  maxBodyBytes: number,
): Promise<JsonObject> {
  const input = route.method.input;
  let fields: JsonObject = {};
  if (route.body !== "") {
    const body = await readJsonBody(req, maxBodyBytes);
    if (route.body === "*") {
      if (body !== undefined && (typeof body !== "object" || body === null || Array.isArray(body))) {
        throw new ScaiVaultError("invalid_request", "request body must be a JSON object");
      }
      fields = body ?? {};
    } else if (body !== undefined) {
      fields[route.body] = body;
    }
  }
  mergeQueryParams(input, query, fields);
  for (const [fieldPath, value] of Object.entries(variables)) setPathVariable(input, fieldPath, value, fields);
  return fields;
}

/** Reads the body as JSON; undefined when it is empty. */
async function readJsonBody(req: UniversalServerRequest, maxBytes: number): Promise<JsonValue | undefined> {
  if (!isByteStream(req.body)) return req.body; // A framework parsed it already.
  const bytes = await readRequestBytes(req.body, { maxBytes, lengthHint: req.header.get("content-length") }, "request body");
  if (bytes.byteLength === 0) return undefined;
  try {
    return JSON.parse(new TextDecoder("utf-8", { fatal: true }).decode(bytes)) as JsonValue;
  } catch {
    throw new ScaiVaultError("invalid_request", "malformed JSON body");
  }
}

/** The headers of a call that REST clients may see (none of the protocol's own). */
function responseHeadersOf(from: Headers | undefined): Headers {
  const header = new Headers();
  from?.forEach((value, name) => innerResponseHeaders.test(name) || header.set(name, value));
  return header;
}

/** Turns the handler's reply into the REST response. */
function restResponseOf(route: RestRoute, result: DirectResult, requestId: string, logger: Logger): UniversalServerResponse {
  const output = route.method.output;
  let json = addJsonNulls(output, toJson(output, result.message, jsonOptions));
  if (route.responseBody !== "") json = responseField(route, json);
  return jsonResponse(statusOf(result.header, requestId, logger), json, responseHeadersOf(result.header));
}

/** The one response field a binding sends (`response_body: "items"` → the bare array). */
function responseField(route: RestRoute, json: JsonValue): JsonValue {
  const value = (json as JsonObject)[route.responseBody];
  if (value !== undefined) return value;
  const field = route.method.output.fields.find((f) => f.name === route.responseBody);
  return field?.fieldKind === "list" ? [] : field?.fieldKind === "map" ? {} : null;
}

/** The status a handler asked for with `x-http-code` (201 on create), else 200. */
function statusOf(header: Headers | undefined, requestId: string, logger: Logger): number {
  const wanted = header?.get(httpCodeHeader);
  if (!wanted) return 200;
  const status = Number(wanted);
  if (Number.isInteger(status) && status >= 200 && status <= 299) return status;
  logger.warn("ignoring invalid x-http-code from handler", { requestId, value: wanted });
  return 200;
}

import { fromBinary, toBinary, toJson, type JsonObject, type JsonValue } from "@bufbuild/protobuf";
import { Code, ConnectError } from "@connectrpc/connect";
import {
  createAsyncIterable,
  readAllBytes,
  type UniversalHandler,
  type UniversalHandlerFn,
  type UniversalServerRequest,
  type UniversalServerResponse,
} from "@connectrpc/connect/protocol";
import { errorFromJsonBytes } from "@connectrpc/connect/protocol-connect";
import { httpCodeHeader, requestIdKey, targetTenantHeader } from "../auth/principal.js";
import { contractCodeOf, ScaiVaultError } from "../errors.js";
import type { Logger } from "../log.js";
import { mergeQueryParams, setPathVariable } from "./http-params.js";
import { jsonOptions } from "./json-options.js";
import { addJsonNulls } from "./json-nulls.js";
import { requestFromJson } from "./request-json.js";
import { errorResponse, jsonResponse } from "./rest-response.js";
import { findRoute, restRoutesOf, type RestRoute } from "./rest-routes.js";
import { isByteStream, readResponseBody } from "./universal-io.js";

export interface RestTranscoderOptions {
  /** The router's handlers; methods with an http annotation get REST routes. */
  handlers: readonly UniversalHandler[];
  logger: Logger;
  maxBodyBytes: number;
}

/** Request headers that belong to the REST exchange, not to the RPC it becomes. */
const hopHeaders = /^(content-type|content-length|content-encoding|transfer-encoding|accept-encoding|connection|keep-alive|upgrade|te|trailer|connect-.*|grpc-.*)$/i;
/** Response headers of the inner Connect exchange (and the status hint) that REST clients must not see. */
const innerResponseHeaders = /^(content-type|content-length|content-encoding|vary|connect-.*|grpc-.*|trailer-.*|x-http-code)$/i;
/** A route under `/v1/t/{tenant_id}/` acts on another tenant; the auth interceptor decides if that is allowed. */
const tenantPrefix = /^\/v1\/t\/([^/]+)(\/.*)$/;

/**
 * Serves REST/JSON by turning each request into a Connect unary call of the method's own
 * handler, so that interceptors (auth, audit, errors) run exactly as for the other protocols.
 * The call is made in the binary format: the JSON mapping (strict parsing with field-naming
 * errors, snake_case output, `json_null`) is done here once, not by the Connect codec.
 */
export function createRestTranscoder(options: RestTranscoderOptions): UniversalHandlerFn {
  const routes = restRoutesOf(options.handlers);
  const { logger, maxBodyBytes } = options;

  return async function transcode(req: UniversalServerRequest): Promise<UniversalServerResponse> {
    const requestId = req.contextValues?.get(requestIdKey) ?? "";
    try {
      const url = new URL(req.url);
      const header = new Headers();
      req.header.forEach((value, name) => hopHeaders.test(name) || header.set(name, value));
      let rawPath = url.pathname;
      const tenant = tenantPrefix.exec(rawPath);
      if (tenant) {
        header.set(targetTenantHeader, decodeURIComponent(tenant[1]!));
        rawPath = "/v1" + tenant[2]!;
      }

      const found = findRoute(routes, req.method, rawPath);
      if (found === undefined) return errorResponse("not_found", "no route matches this path", requestId);
      if ("allow" in found) {
        return errorResponse("method_not_allowed", `${req.method} is not allowed here`, requestId, new Headers({ allow: found.allow }));
      }
      const { route, variables } = found;

      const input = route.handler.method.input;
      const fields = await requestJsonOf(route, variables, req, url.searchParams, maxBodyBytes);
      const message = requestFromJson(input, fields);

      header.set("content-type", "application/proto");
      header.set("connect-protocol-version", "1");
      const res = await route.handler({
        httpVersion: req.httpVersion,
        method: "POST",
        url: new URL(route.handler.requestPath, url).toString(),
        header,
        body: createAsyncIterable([toBinary(input, message)]),
        signal: req.signal,
        contextValues: req.contextValues,
      });
      return await restResponseOf(route, res, requestId, logger);
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
  const input = route.handler.method.input;
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
  let bytes: Uint8Array;
  try {
    bytes = await readAllBytes(req.body, maxBytes, req.header.get("content-length"));
  } catch (err) {
    if (err instanceof ConnectError && err.code === Code.ResourceExhausted) {
      throw new ScaiVaultError("payload_too_large", `request body is larger than ${maxBytes} bytes`);
    }
    throw new ScaiVaultError("invalid_request", "request body could not be read", { cause: err });
  }
  if (bytes.byteLength === 0) return undefined;
  try {
    return JSON.parse(new TextDecoder("utf-8", { fatal: true }).decode(bytes)) as JsonValue;
  } catch {
    throw new ScaiVaultError("invalid_request", "malformed JSON body");
  }
}

/** Turns the handler's Connect response into the REST one. */
async function restResponseOf(
  route: RestRoute,
  res: UniversalServerResponse,
  requestId: string,
  logger: Logger,
): Promise<UniversalServerResponse> {
  const bytes = await readResponseBody(res);
  const header = new Headers();
  res.header?.forEach((value, name) => innerResponseHeaders.test(name) || header.set(name, value));

  if (res.status !== 200) {
    const unreadable = new ConnectError("internal error", Code.Internal);
    let error = unreadable;
    try {
      error = errorFromJsonBytes(bytes, undefined, unreadable);
    } catch {
      logger.error("handler answered without a Connect error", { requestId, status: res.status });
    }
    const { code, message } = contractCodeOf(error);
    // The error interceptor already logged internal causes; only the safe text goes out.
    return errorResponse(code, code === "internal" ? "internal error" : message, requestId, header);
  }

  const output = route.handler.method.output;
  let json = addJsonNulls(output, toJson(output, fromBinary(output, bytes), jsonOptions));
  if (route.responseBody !== "") json = responseField(route, json);
  return jsonResponse(statusOf(res.header, requestId, logger), json, header);
}

/** The one response field a binding sends (`response_body: "items"` → the bare array). */
function responseField(route: RestRoute, json: JsonValue): JsonValue {
  const value = (json as JsonObject)[route.responseBody];
  if (value !== undefined) return value;
  const field = route.handler.method.output.fields.find((f) => f.name === route.responseBody);
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

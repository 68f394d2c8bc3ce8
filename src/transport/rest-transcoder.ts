import { toJson, type DescMethod, type JsonObject, type JsonValue } from "@bufbuild/protobuf";
import { Code, ConnectError } from "@connectrpc/connect";
import type { Compression, UniversalServerRequest, UniversalServerResponse } from "@connectrpc/connect/protocol";
import { requestIdKey } from "../auth/principal.js";
import { ScaiVaultError } from "../errors.js";
import { isCreated } from "../handler-support.js";
import type { Logger } from "../log.js";
import { targetTenantHeader } from "./http-headers.js";
import { checkQueryParams, mergeQueryParams, setPathVariable } from "./http-params.js";
import { jsonOptions } from "./json-options.js";
import { addJsonNulls } from "./json-nulls.js";
import { prefixTenantOf } from "./request-guards.js";
import { requestFromJson } from "./request-json.js";
import { restErrorAnswer } from "./error-edge.js";
import { jsonResponse } from "./rest-response.js";
import { findRoute, restRoutesOf, type RestRoute } from "./rest-routes.js";
import { eventStreamResponse, resumeField } from "./sse.js";
import type { StreamInvoker } from "./stream-invoker.js";
import type { DirectCall, DirectResult, UnaryInvoker } from "./unary-invoker.js";
import { isByteStream, readRequestBytes } from "./universal-io.js";

export interface RestTranscoderOptions {
  /** Every method served; those with an http annotation get REST routes. */
  methods: readonly DescMethod[];
  /** Runs a method's interceptors and implementation. */
  invoker: UnaryInvoker;
  /** Runs a server-streaming method's interceptors and implementation (Server-Sent Events). */
  streamInvoker: StreamInvoker;
  logger: Logger;
  maxBodyBytes: number;
  /** Longest a call may run (REST clients send no deadline of their own); none when undefined. */
  maxTimeoutMs?: number;
  /** Content-Encodings accepted for request bodies (the same as for the RPC protocols). */
  compression?: Compression[];
}

/** Serves one REST request; `url` is the request's URL, parsed once by the dispatcher. */
export type RestTranscoder = (req: UniversalServerRequest, url: URL) => Promise<UniversalServerResponse>;

/** Response headers set inside the call that REST clients must not see. */
const innerResponseHeaders = /^(content-type|content-length|content-encoding|vary|connect-.*|grpc-.*|trailer-.*)$/i;
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
  const { invoker, streamInvoker, logger, maxBodyBytes, maxTimeoutMs, compression = [] } = options;
  const limits = { maxBodyBytes, compression };

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
      if (found === undefined) return restErrorAnswer(new ScaiVaultError("not_found", "no route matches this path"), requestId);
      if ("allow" in found) {
        const error = new ScaiVaultError("method_not_allowed", `${req.method} is not allowed here`);
        return restErrorAnswer(error, requestId, new Headers({ allow: found.allow }));
      }
      const { route, variables } = found;

      const fields = await requestJsonOf(route, variables, req, url.searchParams, limits);
      const streaming = route.method.methodKind === "server_streaming";
      // Server-Sent Events resume with Last-Event-ID: it stands for the request's cursor.
      const lastEventId = req.header.get("last-event-id");
      if (streaming && lastEventId && fields[resumeField] === undefined && route.method.input.fields.some((f) => f.name === resumeField)) {
        fields[resumeField] = lastEventId;
      }
      const message = requestFromJson(route.method.input, fields);
      const call: DirectCall = {
        protocolName: "rest",
        requestMethod: req.method,
        url: req.url,
        header,
        contextValues: req.contextValues!,
        signal: req.signal,
        // A stream (Server-Sent Events) lasts as long as the client listens; unary calls get the server's maximum.
        timeoutMs: streaming ? undefined : maxTimeoutMs,
      };
      let result: DirectResult;
      try {
        if (streaming) return await eventStreamResponse(await streamInvoker.invoke(route.method, message, call), route.method.output, requestId, logger);
        result = await invoker.invoke(route.method, message, call);
      } catch (err) {
        // The error interceptor turned it into the contract's error and logged internal causes.
        return restErrorAnswer(err, requestId, responseHeadersOf(err instanceof ConnectError ? err.metadata : undefined));
      }
      return restResponseOf(route, result);
    } catch (err) {
      if (err instanceof URIError) return restErrorAnswer(new ScaiVaultError("invalid_request", "malformed percent-encoding in the URL path"), requestId);
      return restErrorAnswer(err, requestId, undefined, (cause) => logger.error("REST request failed", { requestId, err: cause }));
    }
  };
}

/** The request's JSON: query parameters, overridden by the body, overridden by path variables. */
async function requestJsonOf(
  route: RestRoute,
  variables: Record<string, string>,
  req: UniversalServerRequest,
  query: URLSearchParams,
  limits: BodyLimits,
): Promise<JsonObject> {
  const input = route.method.input;
  checkQueryParams(input, route.queryParams, query, route.body === "*");
  let fields: JsonObject = {};
  if (route.body !== "") {
    const body = await readJsonBody(req, limits);
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

interface BodyLimits {
  maxBodyBytes: number;
  compression: Compression[];
}

/** Reads the body as JSON, decompressing a gzip or br Content-Encoding within the size limit; undefined when it is empty. */
async function readJsonBody(req: UniversalServerRequest, { maxBodyBytes, compression }: BodyLimits): Promise<JsonValue | undefined> {
  if (!isByteStream(req.body)) return req.body; // A framework parsed it already.
  const encoding = req.header.get("content-encoding")?.trim().toLowerCase() || "identity";
  const decoder = compression.find((c) => c.name === encoding);
  if (encoding !== "identity" && !decoder) {
    throw new ScaiVaultError("invalid_request", `unsupported content-encoding ${encoding} (supported: ${["identity", ...compression.map((c) => c.name)].join(", ")})`);
  }
  const raw = await readRequestBytes(req.body, { maxBytes: maxBodyBytes, lengthHint: req.header.get("content-length") }, "request body");
  const bytes = decoder ? await decompressed(decoder, raw, maxBodyBytes) : raw;
  if (bytes.byteLength === 0) return undefined;
  try {
    return JSON.parse(new TextDecoder("utf-8", { fatal: true }).decode(bytes)) as JsonValue;
  } catch {
    throw new ScaiVaultError("invalid_request", "malformed JSON body");
  }
}

/** Decompresses a request body; the size limit applies to what comes out, so a small bomb is refused without being inflated. */
async function decompressed(compression: Compression, bytes: Uint8Array, maxBodyBytes: number): Promise<Uint8Array> {
  try {
    return await compression.decompress(bytes, maxBodyBytes);
  } catch (err) {
    if (err instanceof ConnectError && err.code === Code.ResourceExhausted) {
      throw new ScaiVaultError("payload_too_large", `request body is larger than ${maxBodyBytes} bytes after decompression`);
    }
    throw new ScaiVaultError("invalid_request", `request body is not valid ${compression.name}`, { cause: err });
  }
}

/** The headers of a call that REST clients may see (none of the protocol's own). */
function responseHeadersOf(from: Headers | undefined): Headers {
  const header = new Headers();
  from?.forEach((value, name) => innerResponseHeaders.test(name) || header.set(name, value));
  return header;
}

/** Turns the handler's reply into the REST response. */
function restResponseOf(route: RestRoute, result: DirectResult): UniversalServerResponse {
  const output = route.method.output;
  let json = addJsonNulls(output, toJson(output, result.message, jsonOptions));
  if (route.responseBody !== "") json = responseField(route, json);
  return jsonResponse(isCreated(result.message) ? 201 : 200, json, responseHeadersOf(result.header));
}

/** The one response field a binding sends (`response_body: "items"` → the bare array). */
function responseField(route: RestRoute, json: JsonValue): JsonValue {
  const value = (json as JsonObject)[route.responseBody];
  if (value !== undefined) return value;
  const field = route.method.output.fields.find((f) => f.name === route.responseBody);
  return field?.fieldKind === "list" ? [] : field?.fieldKind === "map" ? {} : null;
}


import type { DescService, JsonValue } from "@bufbuild/protobuf";
import { createConnectRouter, createContextValues, type ConnectRouter, type Interceptor } from "@connectrpc/connect";
import {
  createAsyncIterable,
  universalServerRequestFromFetch,
  universalServerResponseToFetch,
  type UniversalHandler,
  type UniversalServerRequest,
  type UniversalServerResponse,
} from "@connectrpc/connect/protocol";
import { clientAddressKey, clientRequestIdKey, httpCodeHeader, requestIdHeader, requestIdKey } from "../auth/principal.js";
import type { Logger } from "../log.js";
import { createCors } from "./cors.js";
import { createErrorInterceptor } from "./error-interceptor.js";
import { createHealthRoutes } from "./health.js";
import { addJsonNulls, hasJsonNulls } from "./json-nulls.js";
import { jsonOptions } from "./json-options.js";
import { createGrpcUnary } from "./grpc-unary.js";
import { createReflectionRoutes } from "./reflection.js";
import { checkConnectBinaryBody, rawPathProblem } from "./request-guards.js";
import { createRestTranscoder } from "./rest-transcoder.js";
import { errorResponse, jsonResponse } from "./rest-response.js";
import { createUnaryInvoker, type UnaryInvoker } from "./unary-invoker.js";
import { fromFetchResponse, readResponseBody, singleChunkBody, toFetchRequest } from "./universal-io.js";

/** A plain HTTP route beside the API (metrics, an OpenAPI document), served in fetch style. */
export interface ExtraRoute {
  method: string;
  path: string;
  handle: (req: Request) => Promise<Response>;
}

export interface UniversalAppOptions {
  /** Registers the API services on the router. */
  routes: (router: ConnectRouter) => void;
  /** Run for every RPC on every protocol, REST included, after the transport's error interceptor. */
  interceptors: Interceptor[];
  logger: Logger;
  /** Whether the service can take traffic; drives `/readyz` and gRPC health. */
  ready: () => Promise<boolean>;
  /** Largest request body or message accepted (default 1 MiB). */
  maxBodyBytes?: number;
  extraRoutes?: ExtraRoute[];
  /** Browser origins allowed to call across origins (`*` for any); none by default. */
  corsOrigins?: readonly string[];
}

/** The whole API behind one handler: Connect, gRPC, gRPC-web and REST, plus health and reflection. */
export interface UniversalApp {
  /** Serves one request in Connect's runtime-neutral form (what the Node adapter calls). */
  handle(req: UniversalServerRequest): Promise<UniversalServerResponse>;
  /** Serves one fetch-style request (Deno, Bun, edge runtimes): REST, Connect and gRPC-web; native gRPC needs trailers. */
  fetch(req: Request, info?: { clientAddress?: string }): Promise<Response>;
  /** Every service registered, health and reflection included (for reflection and OpenAPI). */
  readonly services: readonly DescService[];
  /** Starts shutting down: readiness and health report not serving and health watches end; calls in flight go on. */
  drain(): void;
}

const defaultMaxBodyBytes = 1024 * 1024;
/** Request ids from clients are echoed into logs and headers, so only harmless ones are kept. */
const saneRequestId = /^[A-Za-z0-9._:-]{1,128}$/;
/** Native gRPC (not gRPC-web), which needs HTTP/2 trailers. */
const nativeGrpc = /^application\/grpc(?:[+;]|$)/i;

/** Creates the one dispatcher of the API; runtime-neutral (no Node imports), so every adapter serves the same app. */
export function createUniversalApp(options: UniversalAppOptions): UniversalApp {
  const { logger, ready } = options;
  const maxBodyBytes = options.maxBodyBytes ?? defaultMaxBodyBytes;
  const draining = new AbortController();

  const interceptors = [createErrorInterceptor(logger), ...options.interceptors];
  const router = createConnectRouter({ interceptors, jsonOptions, readMaxBytes: maxBodyBytes });
  // Every service goes to Connect's router (all protocols) and to the unary invoker (REST and the gRPC fast path).
  const invoker = createUnaryInvoker(interceptors);
  const registering = registeringRouter(router, invoker);
  options.routes(registering);
  let services: DescService[] = [];
  createHealthRoutes({ ready, draining: draining.signal, services: () => services.map((s) => s.typeName) })(registering);
  createReflectionRoutes(() => services)(registering);
  services = [...new Set(router.handlers.map((h) => h.service))];

  const rpcs = new Map(router.handlers.map((h) => [h.requestPath, h]));
  const rest = createRestTranscoder({ methods: router.handlers.map((h) => h.method), invoker, logger, maxBodyBytes });
  const grpcUnary = createGrpcUnary(invoker, maxBodyBytes);
  const extraRoutes = new Map((options.extraRoutes ?? []).map((r) => [`${r.method.toUpperCase()} ${r.path}`, r]));
  const cors = createCors(options.corsOrigins ?? []);
  const isReady = async () => !draining.signal.aborted && (await ready().catch(() => false));

  async function dispatch(req: UniversalServerRequest): Promise<UniversalServerResponse> {
    const pathProblem = rawPathProblem(req.url);
    if (pathProblem) return errorResponse("invalid_path", pathProblem, req.contextValues!.get(requestIdKey));
    const url = new URL(req.url);
    const path = url.pathname;
    const rpc = rpcs.get(path);
    if (rpc) {
      if (grpcUnary.accepts(req, rpc.method)) return grpcUnary.handle(req, rpc.method);
      const checked = await checkConnectBinaryBody(req, rpc.method, maxBodyBytes);
      if ("res" in checked) return checked.res;
      return withJsonNulls(rpc, await rpc(checked.req));
    }
    if (req.method === "GET" && path === "/healthz") return jsonResponse(200, { status: "ok" });
    if (req.method === "GET" && path === "/readyz") {
      return (await isReady()) ? jsonResponse(200, { status: "ok" }) : jsonResponse(503, { status: "unavailable" });
    }
    const extra = extraRoutes.get(`${req.method} ${path}`);
    if (extra) return fromFetchResponse(await extra.handle(toFetchRequest(req)));
    return rest(req, url);
  }

  async function handle(req: UniversalServerRequest): Promise<UniversalServerResponse> {
    // The audited and returned id is always our own: a client choosing it could make two calls share
    // one. What the client sent is kept beside it, for correlation.
    const requestId = crypto.randomUUID();
    const given = req.header.get(requestIdHeader);
    // Not spread when it has context values already: a spread would read (and so create) the lazy abort signal.
    if (!req.contextValues) req = { ...req, contextValues: createContextValues() };
    req.contextValues!.set(requestIdKey, requestId);
    if (given && saneRequestId.test(given)) req.contextValues!.set(clientRequestIdKey, given);
    let res: UniversalServerResponse;
    try {
      res = cors.preflight(req) ?? (await dispatch(req));
    } catch (err) {
      logger.error("request failed", { requestId, err });
      res = errorResponse("internal", "internal error", requestId);
    }
    const header = new Headers(res.header);
    header.delete(httpCodeHeader); // a REST status hint, never meant for clients
    header.set(requestIdHeader, requestId);
    cors.decorate(req, header);
    return { ...res, header };
  }

  async function fetchEntry(request: Request, info?: { clientAddress?: string }): Promise<Response> {
    if (nativeGrpc.test(request.headers.get("content-type") ?? "")) {
      // A trailers-only response: a fetch Response cannot carry the trailers gRPC ends with.
      return new Response(null, {
        status: 200,
        headers: { "content-type": "application/grpc", "grpc-status": "12", "grpc-message": "gRPC needs HTTP/2 trailers: use gRPC-web or Connect" },
      });
    }
    const contextValues = createContextValues().set(clientAddressKey, info?.clientAddress);
    const req = { ...universalServerRequestFromFetch(request, { httpVersion: "1.1" }), contextValues };
    return universalServerResponseToFetch(await handle(req));
  }

  return {
    handle,
    fetch: fetchEntry,
    services,
    drain: () => draining.abort(),
  };
}

/** A router that also registers each service's unary methods with the invoker. */
function registeringRouter(router: ConnectRouter, invoker: UnaryInvoker): ConnectRouter {
  const registering: ConnectRouter = {
    get handlers() {
      return router.handlers;
    },
    service(service, impl, options) {
      // Per-service interceptors would run for Connect's handlers only; the app has one chain for all.
      if (options?.interceptors?.length) throw new Error(`${service.typeName}: per-service interceptors are not supported`);
      invoker.register(service, impl as never);
      router.service(service, impl, options);
      return registering;
    },
    rpc(method, impl, options) {
      if (options?.interceptors?.length) throw new Error(`${method.toString()}: per-method interceptors are not supported`);
      if (method.methodKind === "unary") invoker.register(method.parent, { [method.localName]: impl } as never);
      router.rpc(method, impl, options);
      return registering;
    },
  };
  return registering;
}

/**
 * Connect's JSON codec cannot emit `null`; for unary Connect JSON responses the document is
 * rewritten with the `json_null` fields, so Connect clients see what REST clients see.
 * (gRPC-web JSON and streaming JSON keep protobuf-es's output; no method needs them.)
 */
async function withJsonNulls(rpc: UniversalHandler, res: UniversalServerResponse): Promise<UniversalServerResponse> {
  const output = rpc.method.output;
  const contentType = res.header?.get("content-type") ?? "";
  if (
    res.status !== 200 ||
    res.body === undefined ||
    rpc.method.methodKind !== "unary" ||
    !/^application\/json(?:;|$)/i.test(contentType) ||
    res.header?.has("content-encoding") ||
    !hasJsonNulls(output)
  ) {
    return res;
  }
  const text = new TextDecoder().decode(await readResponseBody(res));
  const bytes = new TextEncoder().encode(JSON.stringify(addJsonNulls(output, JSON.parse(text) as JsonValue)));
  const header = new Headers(res.header);
  header.set("content-length", String(bytes.byteLength));
  return { ...res, header, body: singleChunkBody(bytes) };
}

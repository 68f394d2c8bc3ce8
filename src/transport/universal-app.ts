import type { DescService, JsonValue } from "@bufbuild/protobuf";
import { createConnectRouter, createContextValues, type ConnectRouter, type Interceptor } from "@connectrpc/connect";
import {
  createAsyncIterable,
  type Compression,
  universalServerResponseToFetch,
  type UniversalHandler,
  type UniversalServerRequest,
  type UniversalServerResponse,
} from "@connectrpc/connect/protocol";
import { parseTimeout } from "@connectrpc/connect/protocol-grpc";
import { file_google_rpc_error_details } from "../../gen/google/rpc/error_details_pb.js";
import { file_google_rpc_status } from "../../gen/google/rpc/status_pb.js";
import { clientAddressKey, clientRequestIdKey, requestIdKey } from "../auth/principal.js";
import { ScaiVaultError } from "../errors.js";
import type { Logger } from "../log.js";
import { clientWentAway } from "./call-outcome.js";
import { createCors } from "./cors.js";
import { createDeadlineInterceptor } from "./deadline-interceptor.js";
import { errorAnswer } from "./error-edge.js";
import { createErrorInterceptor } from "./error-interceptor.js";
import { createHealthRoutes } from "./health.js";
import { requestIdHeader } from "./http-headers.js";
import { addJsonNulls, hasJsonNulls } from "./json-nulls.js";
import { jsonOptions } from "./json-options.js";
import { createGrpcUnary } from "./grpc-unary.js";
import { createReflectionRoutes } from "./reflection.js";
import { rawPathOf, rawPathProblem } from "./request-guards.js";
import { createRestTranscoder } from "./rest-transcoder.js";
import { jsonResponse } from "./rest-response.js";
import { createStreamInvoker, type StreamInvoker } from "./stream-invoker.js";
import { createStreamMessageGuard } from "./stream-message-guard.js";
import { checkUnaryMessage } from "./unary-message-guard.js";
import { createUnaryInvoker, type UnaryInvoker } from "./unary-invoker.js";
import { fromFetchResponse, isSingleChunkBody, readResponseBody, singleChunkBody, toFetchRequest } from "./universal-io.js";

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
  /**
   * Encodings accepted for gRPC, gRPC-web and Connect requests and offered for responses (none
   * by default; the Node server passes gzip and br). Size limits apply after decompression.
   */
  compression?: Compression[];
  /** Longest a unary call may run: a client's longer or missing deadline is cut to it (none by default). */
  maxTimeoutMs?: number;
  /** Run when the app starts draining, so long-lived streams can end and let the server close. */
  onDrain?: () => void;
  /**
   * Another API's routes beside the native ones (Vault's KV v2), chosen by the raw path before the
   * native path checks run: the dialect checks its own paths and answers in its own shapes.
   */
  dialect?: Dialect;
}

/** A second API over the same app, answering in its own shapes (the Vault dialect). */
export interface Dialect {
  serves(rawPath: string): boolean;
  handle(req: UniversalServerRequest, rawPath: string, url: URL): Promise<UniversalServerResponse>;
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
/** Responses smaller than this are sent uncompressed even to clients that accept an encoding (Connect's default). */
const compressMinBytes = 1024;
/** Request ids from clients are echoed into logs and headers, so only harmless ones are kept. */
const saneRequestId = /^[A-Za-z0-9._:-]{1,128}$/;
/** Native gRPC (not gRPC-web), which needs HTTP/2 trailers. */
const nativeGrpc = /^application\/grpc(?:[+;]|$)/i;
/** gRPC and gRPC-web, whose unknown methods are answered with grpc-status UNIMPLEMENTED. */
const anyGrpc = /^application\/grpc(?:-web(?:-text)?)?(?:[+;]|$)/i;

/** Creates the one dispatcher of the API; runtime-neutral (no Node imports), so every adapter serves the same app. */
export function createUniversalApp(options: UniversalAppOptions): UniversalApp {
  const { logger, ready } = options;
  const maxBodyBytes = options.maxBodyBytes ?? defaultMaxBodyBytes;
  const { compression = [], maxTimeoutMs } = options;
  const draining = new AbortController();

  const interceptors = [createErrorInterceptor(logger), createStreamMessageGuard(), createDeadlineInterceptor(), ...options.interceptors];
  const router = createConnectRouter({ interceptors, jsonOptions, readMaxBytes: maxBodyBytes, acceptCompression: compression, compressMinBytes });
  // Every service goes to Connect's router (all protocols) and to the unary invoker (REST and the gRPC fast path).
  const invoker = createUnaryInvoker(interceptors);
  const streamInvoker = createStreamInvoker(interceptors);
  const registering = registeringRouter(router, invoker, streamInvoker);
  options.routes(registering);
  let services: DescService[] = [];
  createHealthRoutes({ ready, draining: draining.signal, services: () => services.map((s) => s.typeName) })(registering);
  createReflectionRoutes(() => services, [file_google_rpc_error_details, file_google_rpc_status])(registering);
  services = [...new Set(router.handlers.map((h) => h.service))];

  const rpcs = new Map(router.handlers.map((h) => [h.requestPath, h]));
  const rest = createRestTranscoder({ methods: router.handlers.map((h) => h.method), invoker, streamInvoker, logger, maxBodyBytes, maxTimeoutMs, compression });
  const grpcUnary = createGrpcUnary(invoker, { maxBodyBytes, compression, compressMinBytes, maxTimeoutMs });
  const extraRoutes = new Map((options.extraRoutes ?? []).map((r) => [`${r.method.toUpperCase()} ${r.path}`, r]));
  const cors = createCors(options.corsOrigins ?? []);
  const isReady = async () => !draining.signal.aborted && (await ready().catch(() => false));

  async function dispatch(req: UniversalServerRequest): Promise<UniversalServerResponse> {
    const rawPath = rawPathOf(req.url);
    if (options.dialect?.serves(rawPath)) return options.dialect.handle(req, rawPath, new URL(req.url));
    const pathProblem = rawPathProblem(req.url);
    if (pathProblem) return errorAnswer(req, new ScaiVaultError("invalid_path", pathProblem), req.contextValues!.get(requestIdKey));
    const url = new URL(req.url);
    const path = url.pathname;
    const rpc = rpcs.get(path);
    if (rpc) {
      if (grpcUnary.accepts(req, rpc.method)) return grpcUnary.handle(req, rpc.method);
      if (maxTimeoutMs !== undefined && rpc.method.methodKind === "unary") capTimeoutHeader(req.header, maxTimeoutMs);
      const checked = await checkUnaryMessage(req, rpc.method, { maxBodyBytes, compression });
      if ("res" in checked) return checked.res;
      return withJsonNulls(rpc, await rpc(checked.req));
    }
    const requestId = req.contextValues?.get(requestIdKey) ?? "";
    // gRPC clients read only grpc-status; an HTTP 404 reaches them as a protocol error.
    if (anyGrpc.test(req.header.get("content-type") ?? "")) return errorAnswer(req, new ScaiVaultError("unimplemented", `unknown method ${path}`), requestId);
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
    const call = followClientUntilAnswered(req);
    req = call.request;
    let res: UniversalServerResponse;
    try {
      res = cors.preflight(req) ?? (await dispatch(req));
    } catch (err) {
      res = errorAnswer(req, err, requestId, undefined, (cause) => logger.error("request failed", { requestId, err: cause }));
    }
    const header = new Headers(res.header);
    header.set(requestIdHeader, requestId);
    cors.decorate(req, header);
    return call.answered({ ...res, header });
  }

  async function fetchEntry(request: Request, info?: { clientAddress?: string }): Promise<Response> {
    if (nativeGrpc.test(request.headers.get("content-type") ?? "")) {
      // A trailers-only response: a fetch Response cannot carry the trailers gRPC ends with.
      return new Response(null, {
        status: 200,
        headers: { "content-type": "application/grpc", "grpc-status": "12", "grpc-message": "gRPC needs HTTP/2 trailers: use gRPC-web or Connect" },
      });
    }
    const req: UniversalServerRequest = {
      httpVersion: "1.1",
      method: request.method,
      url: request.url,
      // A copy: a fetch Request's headers are immutable under Deno, and the server's deadline cap rewrites them.
      header: new Headers(request.headers),
      body: request.body ? bytesOf(request.body) : createAsyncIterable([]),
      contextValues: createContextValues().set(clientAddressKey, info?.clientAddress),
      // Read only when a call asks for it: legacy Deno.serve warns when a signal that was read aborts after success.
      get signal() {
        return request.signal;
      },
    };
    return universalServerResponseToFetch(await handle(req));
  }

  return {
    handle,
    fetch: fetchEntry,
    services,
    drain: () => {
      draining.abort();
      options.onDrain?.();
    },
  };
}

/**
 * A call's abort signal means "the client went away", under every runtime. The runtimes' own
 * request signals also abort once the response is complete (Node's adapter, and Deno.serve
 * unless started with --unstable-no-legacy-abort), so the request's signal is followed only
 * until the app's answer is complete: a unary answer when it is returned, a stream once its
 * last chunk has been taken. A client that leaves mid-stream still cancels the call. The
 * runtime's signal is read only when a call asks for its own (most never do).
 */
function followClientUntilAnswered(req: UniversalServerRequest) {
  let answered = false;
  let callSignal: AbortSignal | undefined;
  let unfollow = () => {};
  const request: UniversalServerRequest = {
    httpVersion: req.httpVersion,
    method: req.method,
    url: req.url,
    header: req.header,
    body: req.body,
    contextValues: req.contextValues,
    get signal() {
      if (callSignal) return callSignal;
      const runtimeSignal = req.signal;
      const controller = new AbortController();
      callSignal = controller.signal;
      const onAbort = () => {
        if (!answered) controller.abort(clientWentAway(runtimeSignal.reason));
      };
      if (runtimeSignal.aborted) onAbort();
      else {
        runtimeSignal.addEventListener("abort", onAbort, { once: true });
        unfollow = () => runtimeSignal.removeEventListener("abort", onAbort);
      }
      return callSignal;
    },
  };
  const finish = () => {
    answered = true;
    unfollow();
  };
  return {
    request,
    /** The response to send; marks the call answered now, or when its streamed body has been taken to the end. */
    answered(res: UniversalServerResponse): UniversalServerResponse {
      if (res.body === undefined || isSingleChunkBody(res.body)) {
        finish();
        return res;
      }
      const body = res.body;
      return {
        ...res,
        body: {
          async *[Symbol.asyncIterator]() {
            yield* body;
            finish();
          },
        },
      };
    },
  };
}

/** A fetch body as the byte chunks a universal request carries. */
async function* bytesOf(stream: ReadableStream<Uint8Array>): AsyncIterable<Uint8Array> {
  const reader = stream.getReader();
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) return;
      yield value;
    }
  } finally {
    reader.releaseLock();
  }
}

/** A router that also registers each service's unary and server-streaming methods with the invokers. */
function registeringRouter(router: ConnectRouter, invoker: UnaryInvoker, streamInvoker: StreamInvoker): ConnectRouter {
  const registering: ConnectRouter = {
    get handlers() {
      return router.handlers;
    },
    service(service, impl, options) {
      // Per-service interceptors would run for Connect's handlers only; the app has one chain for all.
      if (options?.interceptors?.length) throw new Error(`${service.typeName}: per-service interceptors are not supported`);
      invoker.register(service, impl);
      streamInvoker.register(service, impl);
      router.service(service, impl, options);
      return registering;
    },
    rpc(method, impl, options) {
      if (options?.interceptors?.length) throw new Error(`${method.toString()}: per-method interceptors are not supported`);
      if (method.methodKind === "unary") invoker.registerMethod(method, impl);
      if (method.methodKind === "server_streaming") streamInvoker.register(method.parent, { [method.localName]: impl } as never);
      router.rpc(method, impl, options);
      return registering;
    },
  };
  return registering;
}

/**
 * Cuts the deadline a Connect, gRPC or gRPC-web client sent (or the absent one) to the server's
 * maximum, before Connect's handler reads it: the handler context then times the call out there.
 * A malformed value counts as none (the server's maximum applies): Connect's refusal of it would
 * quote the header's value back.
 */
function capTimeoutHeader(header: Headers, maxTimeoutMs: number) {
  if (anyGrpc.test(header.get("content-type") ?? "")) {
    const { timeoutMs, error } = parseTimeout(header.get("grpc-timeout"), Number.MAX_SAFE_INTEGER);
    if (error || timeoutMs === undefined || timeoutMs > maxTimeoutMs) header.set("grpc-timeout", `${maxTimeoutMs}m`);
    return;
  }
  const given = header.get("connect-timeout-ms");
  if (given === null || !/^\d{1,10}$/.test(given) || Number(given) > maxTimeoutMs) header.set("connect-timeout-ms", String(maxTimeoutMs));
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

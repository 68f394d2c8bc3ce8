import type { DescMessage, DescMethod, DescService, MessageShape } from "@bufbuild/protobuf";
import {
  Code,
  ConnectError,
  createHandlerContext,
  createMethodImplSpec,
  createServiceImplSpec,
  type ContextValues,
  type Interceptor,
  type MethodImpl,
  type MethodImplSpec,
  type ServiceImpl,
} from "@connectrpc/connect";
import { invokeUnaryImplementation } from "@connectrpc/connect/protocol";
import { ScaiVaultError } from "../errors.js";

/** What a transport knows about one unary call it hands to the invoker. */
export interface DirectCall {
  /** `"rest"` or `"grpc"`: what interceptors and handlers see as the protocol. */
  protocolName: string;
  requestMethod: string;
  url: string;
  header: Headers;
  contextValues: ContextValues;
  /** Aborted when the client goes away. */
  signal: AbortSignal;
  /** How long the call may run (the client's deadline, capped by the server's maximum); none when undefined. */
  timeoutMs?: number;
}

/** The handler's reply and the headers and trailers it (or an interceptor) set. */
export interface DirectResult {
  message: MessageShape<DescMessage>;
  header: Headers;
  trailer: Headers;
}

type UnarySpec = MethodImplSpec & { kind: "unary" };

/**
 * Calls unary methods straight on their implementations, through the same interceptors (errors,
 * deadlines, auth, audit) as Connect's handlers, but without a wire format in between: REST hands
 * it the message it built from JSON, the gRPC fast path the message it decoded. The handler
 * context and the interceptor chain are Connect's own (`createHandlerContext`,
 * `invokeUnaryImplementation`); streaming methods and the other protocols stay with Connect's handlers.
 */
export interface UnaryInvoker {
  /** Records a service's unary methods (the app registers every service here and on the router). */
  register(service: DescService, impl: Partial<ServiceImpl<DescService>>): void;
  /** Records one unary method (what `router.rpc` registers). */
  registerMethod<M extends DescMethod>(method: M, impl: MethodImpl<M>): void;
  /** Whether the method is a unary method with an implementation. */
  has(method: DescMethod): boolean;
  /** Runs the interceptors and the implementation; throws what they throw (the error interceptor's ConnectError). */
  invoke(method: DescMethod, input: MessageShape<DescMessage>, call: DirectCall): Promise<DirectResult>;
}

/** Why a finished call's signal aborts: made once, so ending a call allocates no error. */
const callEnded = new ConnectError("the call ended", Code.Canceled);

export function createUnaryInvoker(interceptors: Interceptor[]): UnaryInvoker {
  const specs = new Map<DescMethod, UnarySpec>();
  const add = (spec: MethodImplSpec | undefined) => spec?.kind === "unary" && specs.set(spec.method, spec);

  return {
    register(service, impl) {
      const spec = createServiceImplSpec(service, impl);
      // Methods left out of `impl` get Connect's "not implemented" stub; only real ones are served directly.
      for (const method of service.methods) if (typeof (impl as Record<string, unknown>)[method.localName] === "function") add(spec.methods[method.localName]);
    },
    registerMethod(method, impl) {
      add(createMethodImplSpec(method, impl));
    },
    has: (method) => specs.has(method),
    async invoke(method, input, call) {
      const spec = specs.get(method);
      if (!spec) throw new ScaiVaultError("unimplemented", `${method.parent.typeName}/${method.name} is not implemented`);
      const context = createHandlerContext({
        service: method.parent,
        method,
        protocolName: call.protocolName,
        requestMethod: call.requestMethod,
        url: call.url,
        timeoutMs: call.timeoutMs,
        requestSignal: call.signal,
        requestHeader: call.header,
        contextValues: call.contextValues,
      });
      try {
        const message = await invokeUnaryImplementation(spec, context, input, interceptors);
        return { message, header: context.responseHeader, trailer: context.responseTrailer };
      } finally {
        context.abort(callEnded); // stops the deadline timer and unhooks the request's signal
      }
    },
  };
}

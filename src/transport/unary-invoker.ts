import { create, type DescMessage, type DescMethod, type DescService, type MessageShape } from "@bufbuild/protobuf";
import {
  Code,
  ConnectError,
  type ContextValues,
  type HandlerContext,
  type Interceptor,
  type ServiceImpl,
  type UnaryRequest,
  type UnaryResponse,
} from "@connectrpc/connect";

/** What a transport knows about one unary call it hands to the invoker. */
export interface DirectCall {
  /** `"rest"` or `"grpc"`: what interceptors and handlers see as the protocol. */
  protocolName: string;
  requestMethod: string;
  url: string;
  header: Headers;
  contextValues: ContextValues;
  /**
   * The call's abort signal, asked for only when someone reads it: an AbortController per call,
   * aborted when the response ends, was a measurable part of a secret read.
   */
  signal: () => AbortSignal;
  /** From the client's deadline (`grpc-timeout`), if it sent one. */
  timeoutMs?: number;
}

/** The handler's reply and the headers and trailers it (or an interceptor) set. */
export interface DirectResult {
  message: MessageShape<DescMessage>;
  header: Headers;
  trailer: Headers;
}

type UnaryImpl = (request: unknown, context: HandlerContext) => unknown;

/**
 * Calls unary methods straight on their implementations, through the same interceptors (errors,
 * auth, audit) as Connect's handlers, but without a wire format in between: REST hands it the
 * message it built from JSON, native gRPC the message it decoded. Streaming methods and the
 * other protocols stay with Connect's handlers.
 */
export interface UnaryInvoker {
  /** Records a service's unary methods (the app registers every service here and on the router). */
  register(service: DescService, impl: Partial<ServiceImpl<DescService>>): void;
  /** Whether the method is a unary method with an implementation. */
  has(method: DescMethod): boolean;
  /** Runs the interceptors and the implementation; throws what they throw (the error interceptor's ConnectError). */
  invoke(method: DescMethod, input: MessageShape<DescMessage>, call: DirectCall): Promise<DirectResult>;
}

export function createUnaryInvoker(interceptors: readonly Interceptor[]): UnaryInvoker {
  const impls = new Map<DescMethod, UnaryImpl>();

  return {
    register(service, impl) {
      for (const method of service.methods) {
        const fn = (impl as Record<string, unknown>)[method.localName];
        if (method.methodKind === "unary" && typeof fn === "function") impls.set(method, fn.bind(impl) as UnaryImpl);
      }
    },
    has: (method) => impls.has(method),
    async invoke(method, input, call) {
      const impl = impls.get(method);
      if (!impl) throw new ConnectError(`${method.toString()} is not implemented`, Code.Unimplemented);
      const output = method.output;
      const responseHeader = new Headers();
      const responseTrailer = new Headers();
      const deadline = call.timeoutMs === undefined ? undefined : Date.now() + call.timeoutMs;
      const timeoutMs = () => (deadline === undefined ? undefined : deadline - Date.now());

      const innermost = async (req: UnaryRequest): Promise<UnaryResponse> => {
        const context: HandlerContext = {
          method,
          service: method.parent,
          protocolName: call.protocolName,
          requestMethod: call.requestMethod,
          url: call.url,
          requestHeader: req.header,
          responseHeader,
          responseTrailer,
          values: req.contextValues,
          timeoutMs,
          get signal() {
            return req.signal;
          },
        };
        const reply = await impl(req.message, context);
        return {
          stream: false,
          message: create(output, reply as never),
          method,
          service: method.parent,
          header: responseHeader,
          trailer: responseTrailer,
        } as UnaryResponse;
      };
      let next = innermost as (req: UnaryRequest) => Promise<UnaryResponse>;
      for (let i = interceptors.length - 1; i >= 0; i--) next = interceptors[i]!(next as never) as typeof next;

      const req = {
        stream: false as const,
        message: input,
        method,
        service: method.parent,
        requestMethod: call.requestMethod,
        url: call.url,
        header: call.header,
        contextValues: call.contextValues,
        get signal() {
          return call.signal();
        },
      } as UnaryRequest;
      const res = await next(req);
      return { message: res.message as MessageShape<DescMessage>, header: res.header, trailer: res.trailer };
    },
  };
}

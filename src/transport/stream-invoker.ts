import type { DescMessage, DescMethod, DescService, MessageShape } from "@bufbuild/protobuf";
import {
  Code,
  ConnectError,
  type HandlerContext,
  type Interceptor,
  type ServiceImpl,
  type StreamRequest,
  type StreamResponse,
} from "@connectrpc/connect";
import type { DirectCall } from "./unary-invoker.js";

/** A server stream's headers and messages, as the interceptors and the implementation produced them. */
export interface DirectStream {
  header: Headers;
  messages: AsyncIterable<MessageShape<DescMessage>>;
}

type ServerStreamImpl = (request: unknown, context: HandlerContext) => AsyncIterable<MessageShape<DescMessage>>;

/**
 * Calls server-streaming methods straight on their implementations through the same interceptors
 * as every other call, for transports that are not Connect's (REST's Server-Sent Events). The
 * request is one message; the reply is the implementation's stream, which the interceptors may wrap.
 */
export interface StreamInvoker {
  register(service: DescService, impl: Partial<ServiceImpl<DescService>>): void;
  invoke(method: DescMethod, input: MessageShape<DescMessage>, call: DirectCall): Promise<DirectStream>;
}

export function createStreamInvoker(interceptors: readonly Interceptor[]): StreamInvoker {
  const impls = new Map<DescMethod, ServerStreamImpl>();
  return {
    register(service, impl) {
      for (const method of service.methods) {
        const fn = (impl as Record<string, unknown>)[method.localName];
        if (method.methodKind === "server_streaming" && typeof fn === "function") impls.set(method, fn.bind(impl) as ServerStreamImpl);
      }
    },
    async invoke(method, input, call) {
      const impl = impls.get(method);
      if (!impl) throw new ConnectError(`${method.toString()} is not implemented`, Code.Unimplemented);
      const responseHeader = new Headers();
      const responseTrailer = new Headers();
      const innermost = async (req: StreamRequest): Promise<StreamResponse> => {
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
          timeoutMs: () => undefined,
          get signal() {
            return req.signal;
          },
        };
        let request: unknown;
        for await (const m of req.message) request = m;
        return {
          stream: true,
          message: impl(request, context),
          method,
          service: method.parent,
          header: responseHeader,
          trailer: responseTrailer,
        } as StreamResponse;
      };
      let next = innermost as (req: StreamRequest) => Promise<StreamResponse>;
      for (let i = interceptors.length - 1; i >= 0; i--) next = interceptors[i]!(next as never) as typeof next;
      const req = {
        stream: true as const,
        message: (async function* () {
          yield input;
        })(),
        method,
        service: method.parent,
        requestMethod: call.requestMethod,
        url: call.url,
        header: call.header,
        contextValues: call.contextValues,
        get signal() {
          return call.signal;
        },
      } as unknown as StreamRequest;
      const res = await next(req);
      return { header: res.header, messages: res.message as AsyncIterable<MessageShape<DescMessage>> };
    },
  };
}

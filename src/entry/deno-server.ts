import { untilOrTimeout, type ListeningServer, type ListenOptions, type RuntimeServer } from "../run-service.js";
import { countCalls } from "./fetch-calls.js";

/** The part of Deno's API this adapter uses (the project type-checks with Node's types). */
declare const Deno: {
  serve(
    options: {
      port: number;
      hostname: string;
      cert?: string;
      key?: string;
      onListen(addr: { port: number }): void;
      onError(err: unknown): Response;
    },
    handler: (req: Request, info: { remoteAddr: { hostname: string } }) => Promise<Response>,
  ): { shutdown(): Promise<void> };
};

/**
 * `Deno.serve` for the app: REST, Connect and gRPC-web on one port (HTTP/1.1 and HTTP/2, cleartext or
 * over TLS). Native gRPC needs HTTP trailers, which a fetch Response cannot carry: such calls get
 * `unimplemented`; serve native gRPC with Node (`npm start`).
 */
export const denoServer: RuntimeServer = {
  runtime: "deno",
  protocols: ["grpc-web", "connect", "rest"],
  listen: ({ app, port, host, tls, logger, shutdownTimeoutMs }: ListenOptions) =>
    new Promise<ListeningServer>((resolve) => {
      const calls = countCalls(app);
      const server = Deno.serve(
        {
          port,
          hostname: host,
          ...tls,
          onListen: (addr) => resolve({ port: addr.port, close }),
          onError: (err) => {
            logger.error("request failed", { err });
            return new Response(null, { status: 500 });
          },
        },
        (req, info) => calls.fetch(req, { clientAddress: info.remoteAddr.hostname }),
      );
      async function close() {
        await untilOrTimeout(
          calls.drained().then(() => server.shutdown()),
          shutdownTimeoutMs,
          () => logger.warn("shutdown timeout: stopping with calls in flight", { runtime: "deno" }),
        );
      }
    }),
};

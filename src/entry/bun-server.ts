import { untilOrTimeout, type ListenOptions, type RuntimeServer } from "../run-service.js";
import { countCalls } from "./fetch-calls.js";

interface BunServer {
  port: number;
  requestIP(req: Request): { address: string } | null;
  stop(closeActiveConnections?: boolean): Promise<void>;
}

/** The part of Bun's API this adapter uses (the project type-checks with Node's types). */
declare const Bun: {
  serve(options: {
    port: number;
    hostname: string;
    tls?: { cert: string; key: string };
    fetch(req: Request, server: BunServer): Promise<Response>;
    error(err: Error): Response;
  }): BunServer;
};

/**
 * `Bun.serve` for the app: REST, Connect and gRPC-web on one port. Native gRPC needs HTTP/2
 * and trailers, which Bun.serve does not offer: such calls get `unimplemented`; serve native
 * gRPC with Node (`npm start`).
 */
export const bunServer: RuntimeServer = {
  runtime: "bun",
  protocols: ["grpc-web", "connect", "rest"],
  async listen({ app, port, host, tls, logger, shutdownTimeoutMs }: ListenOptions) {
    const calls = countCalls(app);
    const server = Bun.serve({
      port,
      hostname: host,
      tls,
      fetch: (req, srv) => calls.fetch(req, { clientAddress: srv.requestIP(req)?.address }),
      error: (err) => {
        logger.error("request failed", { err });
        return new Response(null, { status: 500 });
      },
    });
    return {
      port: server.port,
      async close() {
        // stop() without `true` stops accepting and resolves once the open responses have finished.
        await untilOrTimeout(
          calls.drained().then(() => server.stop()),
          shutdownTimeoutMs,
          () => logger.warn("shutdown timeout: stopping with calls in flight", { runtime: "bun" }),
        );
      },
    };
  },
};

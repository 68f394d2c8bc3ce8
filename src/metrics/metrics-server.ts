import { createServer } from "node:http";
import type { Metrics } from "./metrics.js";

/** Serves GET /metrics on a port of its own (SCAIVAULT_METRICS=<port>), apart from the API. */
export async function startMetricsServer(options: { metrics: Metrics; host: string; port: number }): Promise<{ port: number; close(): Promise<void> }> {
  const server = createServer((req, res) => {
    if (req.method !== "GET" || (req.url ?? "").split("?")[0] !== "/metrics") {
      res.writeHead(404, { "content-type": "text/plain" }).end("not found\n");
      return;
    }
    options.metrics.render().then(
      (text) => res.writeHead(200, { "content-type": options.metrics.registry.contentType }).end(text),
      () => res.writeHead(500, { "content-type": "text/plain" }).end("metrics unavailable\n"),
    );
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(options.port, options.host, () => resolve());
  });
  return {
    port: (server.address() as { port: number }).port,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

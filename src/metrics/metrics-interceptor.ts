import type { Interceptor } from "@connectrpc/connect";
import { errorCodeOf } from "../errors.js";
import type { Metrics } from "./metrics.js";

/** The protocol a call came in on, from what every call has: its content type and URL. */
function protocolOf(req: { header: Headers; url: string; service: { typeName: string } }): string {
  const contentType = req.header.get("content-type") ?? "";
  if (contentType.startsWith("application/grpc-web")) return "grpc-web";
  if (contentType.startsWith("application/grpc")) return "grpc";
  // Connect calls are addressed by procedure; REST calls by their /v1/... route.
  return req.url.includes(`/${req.service.typeName}/`) ? "connect" : "rest";
}

/** Counts and times every call by procedure, protocol and contract code. */
export function createMetricsInterceptor(metrics: Metrics): Interceptor {
  return (next) => async (req) => {
    const started = performance.now();
    const procedure = `${req.service.typeName}/${req.method.name}`;
    try {
      const res = await next(req);
      metrics.observeCall(procedure, protocolOf(req), "ok", (performance.now() - started) / 1000);
      return res;
    } catch (err) {
      metrics.observeCall(procedure, protocolOf(req), errorCodeOf(err), (performance.now() - started) / 1000);
      throw err;
    }
  };
}

import type { Interceptor } from "@connectrpc/connect";
import { callOutcomeOf, reportingEnd } from "../transport/call-outcome.js";
import type { Metrics } from "./metrics.js";

/** The protocol a call came in on, from what every call has: its content type and URL. */
function protocolOf(req: { header: Headers; url: string; service: { typeName: string } }): string {
  const contentType = req.header.get("content-type") ?? "";
  if (contentType.startsWith("application/grpc-web")) return "grpc-web";
  if (contentType.startsWith("application/grpc")) return "grpc";
  // Connect calls are addressed by procedure; REST calls by their /v1/... route.
  return req.url.includes(`/${req.service.typeName}/`) ? "connect" : "rest";
}

/** Counts and times every call by procedure, protocol and outcome (ok, a contract code, or canceled). */
export function createMetricsInterceptor(metrics: Metrics): Interceptor {
  return (next) => async (req) => {
    const started = performance.now();
    const procedure = `${req.service.typeName}/${req.method.name}`;
    const observe = (outcome: string) => metrics.observeCall(procedure, protocolOf(req), outcome, (performance.now() - started) / 1000);
    try {
      const res = await next(req);
      // A stream is counted when it ends, with how it ended.
      if (res.stream) return { ...res, message: reportingEnd(res.message, () => req.signal, observe) };
      observe("ok");
      return res;
    } catch (err) {
      observe(callOutcomeOf(err));
      throw err;
    }
  };
}

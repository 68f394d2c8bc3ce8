import { create } from "@bufbuild/protobuf";
import type { ConnectRouter, HandlerContext } from "@connectrpc/connect";
import {
  Health,
  HealthCheckResponse_ServingStatus as ServingStatus,
  HealthCheckResponseSchema,
  HealthListResponseSchema,
  type HealthCheckResponse,
} from "../../gen/grpc/health/v1/health_pb.js";
import { ScaiVaultError } from "../errors.js";

export interface HealthOptions {
  /** Whether the service can take traffic (database reachable, migrations done). */
  ready: () => Promise<boolean>;
  /** Aborted when the server starts shutting down: every status turns NOT_SERVING and watches end. */
  draining: AbortSignal;
  /** Full names of the services served, for per-service checks. */
  services: () => Iterable<string>;
  /** How often a Watch re-reads readiness (default 5 s). */
  watchIntervalMs?: number;
}

/**
 * Registers `grpc.health.v1.Health` (Check, Watch, List). It has no `(scaivault.v1.access)`
 * option, so the auth interceptor lets it through: load balancers and orchestrators probe it
 * without a token.
 */
export function createHealthRoutes(options: HealthOptions): (router: ConnectRouter) => void {
  const { ready, draining, services, watchIntervalMs = 5_000 } = options;

  async function statusOf(service: string): Promise<ServingStatus> {
    if (service !== "" && ![...services()].includes(service)) return ServingStatus.SERVICE_UNKNOWN;
    if (draining.aborted) return ServingStatus.NOT_SERVING;
    // A readiness probe that throws means not ready, not a failed health call.
    const isReady = await ready().catch(() => false);
    return isReady ? ServingStatus.SERVING : ServingStatus.NOT_SERVING;
  }

  const response = (status: ServingStatus): HealthCheckResponse => create(HealthCheckResponseSchema, { status });

  return (router) =>
    router.service(Health, {
      async check(req) {
        const status = await statusOf(req.service);
        if (status === ServingStatus.SERVICE_UNKNOWN) throw new ScaiVaultError("not_found", "unknown service");
        return response(status);
      },

      // Sends the status now and again whenever it changes, until the client leaves or the server drains.
      async *watch(req, context: HandlerContext) {
        let last: ServingStatus | undefined;
        for (;;) {
          const status = await statusOf(req.service);
          if (status !== last) yield response(status);
          last = status;
          if (draining.aborted || context.signal.aborted) return;
          await sleep(watchIntervalMs, [context.signal, draining]);
        }
      },

      async list() {
        // Every service shares the process's readiness.
        const overall = response(await statusOf(""));
        const statuses: Record<string, HealthCheckResponse> = { "": overall };
        for (const service of services()) statuses[service] = overall;
        return create(HealthListResponseSchema, { statuses });
      },
    });
}

/** Waits, or less when any of the signals aborts. */
function sleep(ms: number, signals: AbortSignal[]): Promise<void> {
  return new Promise((resolve) => {
    const done = () => {
      clearTimeout(timer);
      for (const signal of signals) signal.removeEventListener("abort", done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    for (const signal of signals) signal.addEventListener("abort", done, { once: true });
  });
}

import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from "prom-client";
import type { OutboxSnapshot } from "./metrics-store.js";

/** Where the gauges read their values at scrape time; each source is optional. */
export interface MetricSources {
  readCache?: () => { hits: number; misses: number; bypassed?: number; entries: number };
  pool?: () => { total: number; idle: number; waiting: number; max: number } | undefined;
  outbox?: () => Promise<OutboxSnapshot>;
}

/** The service's Prometheus metrics: one registry per service instance. */
export interface Metrics {
  readonly registry: Registry;
  /** Records one finished call: its procedure, protocol (grpc, grpc-web, connect, rest), contract code and duration. */
  observeCall(procedure: string, protocol: string, code: string, seconds: number): void;
  /** Counts rotation runs by provider and outcome. */
  countRotations(provider: string, status: string, count: number): void;
  /** The text exposition format. */
  render(): Promise<string>;
}

/** Creates the registry and every metric of the service. */
export function createMetrics(sources: MetricSources = {}): Metrics {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry, prefix: "scaivault_process_" });

  const calls = new Counter({
    name: "scaivault_calls_total",
    help: "Finished API calls by procedure, protocol and contract code (ok, the error code, or canceled when the client went away)",
    labelNames: ["procedure", "protocol", "code"] as const,
    registers: [registry],
  });
  const latency = new Histogram({
    name: "scaivault_call_duration_seconds",
    help: "Time from the call reaching the interceptors to its answer, by procedure and protocol",
    labelNames: ["procedure", "protocol"] as const,
    buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
    registers: [registry],
  });
  const rotations = new Counter({
    name: "scaivault_rotation_runs_total",
    help: "Rotation runs by provider and outcome (success, failed, pending, warned, stale, error)",
    labelNames: ["provider", "status"] as const,
    registers: [registry],
  });

  // Label lookups cost more than the increment: keep the labelled children per combination.
  const callChildren = new Map<string, { count: ReturnType<typeof calls.labels>; time: ReturnType<typeof latency.labels> }>();

  if (sources.readCache) {
    const readCache = sources.readCache;
    new Gauge({
      name: "scaivault_read_cache_hit_ratio",
      help: "Share of secret reads answered from this replica's ciphertext cache since start",
      registers: [registry],
      collect() {
        const { hits, misses } = readCache();
        this.set(hits + misses === 0 ? 0 : hits / (hits + misses));
      },
    });
    new Gauge({
      name: "scaivault_read_cache_lookups",
      help: "Secret reads that looked in the cache since start, by result (hit, miss, or bypassed while change notices were not known to arrive)",
      labelNames: ["result"] as const,
      registers: [registry],
      collect() {
        const { hits, misses, bypassed = 0 } = readCache();
        this.set({ result: "hit" }, hits);
        this.set({ result: "miss" }, misses);
        this.set({ result: "bypassed" }, bypassed);
      },
    });
    new Gauge({
      name: "scaivault_read_cache_entries",
      help: "Secrets held in the read cache",
      registers: [registry],
      collect() {
        this.set(readCache().entries);
      },
    });
  }
  if (sources.pool) {
    const pool = sources.pool;
    new Gauge({
      name: "scaivault_db_pool_connections",
      help: "PostgreSQL pool connections by state (idle, in_use, waiting clients, max)",
      labelNames: ["state"] as const,
      registers: [registry],
      collect() {
        const stats = pool();
        if (!stats) return;
        this.set({ state: "idle" }, stats.idle);
        this.set({ state: "in_use" }, stats.total - stats.idle);
        this.set({ state: "waiting" }, stats.waiting);
        this.set({ state: "max" }, stats.max);
      },
    });
  }
  if (sources.outbox) {
    const outbox = sources.outbox;
    // One query pair per scrape, shared by the four gauges.
    let snapshot: Promise<OutboxSnapshot> | undefined;
    const read = () => (snapshot ??= outbox().finally(() => setImmediate(() => (snapshot = undefined))));
    const gauge = (name: string, help: string, pick: (s: OutboxSnapshot) => number) =>
      new Gauge({
        name,
        help,
        registers: [registry],
        async collect() {
          this.set(pick(await read()));
        },
      });
    gauge("scaivault_outbox_undispatched_events", "Events written but not yet fanned out to webhooks", (s) => s.undispatchedEvents);
    gauge("scaivault_outbox_dispatch_lag_seconds", "Age of the oldest event not yet fanned out", (s) => s.dispatchLagSeconds);
    gauge("scaivault_webhook_deliveries_pending", "Webhook deliveries waiting to be sent or retried", (s) => s.pendingDeliveries);
    gauge("scaivault_webhook_delivery_lag_seconds", "How long the most overdue pending delivery has waited past its due time", (s) => s.deliveryLagSeconds);
  }

  return {
    registry,
    observeCall(procedure, protocol, code, seconds) {
      const key = `${procedure}\0${protocol}\0${code}`;
      let child = callChildren.get(key);
      if (!child) {
        child = { count: calls.labels(procedure, protocol, code), time: latency.labels(procedure, protocol) };
        callChildren.set(key, child);
      }
      child.count.inc();
      child.time.observe(seconds);
    },
    countRotations(provider, status, count) {
      if (count > 0) rotations.inc({ provider, status }, count);
    },
    render: () => registry.metrics(),
  };
}

// Several ScaiVault replicas as processes of their own over one PostgreSQL cluster, each reaching
// it through a fault proxy of its own, for fault runs: a replica can be killed (SIGKILL) and
// started again on the same proxy, and every call records whether its replica died meanwhile.
import { startFaultProxy, type FaultProxy } from "./fault-proxy.js";
import { startServiceProcess, type ServiceProcess } from "./service-process.js";

export interface Replica {
  index: number;
  proxy: FaultProxy;
  service?: ServiceProcess;
  /** Counts starts; a call that began on one incarnation and ended on another saw its replica die. */
  incarnation: number;
  up: boolean;
}

/** The answer of one call, with its timing (performance.now ms). */
export interface Answer {
  replica: number;
  status: number | "network" | "timeout";
  json?: any;
  startedAt: number;
  endedAt: number;
  replicaDied: boolean;
}

export interface ReplicaSet {
  replicas: Replica[];
  /** A random replica that is up (a load balancer's pick), or undefined when none is. */
  pick(random: () => number): Replica | undefined;
  /** One REST call with the bearer token; never throws. `clientTimeoutMs` is where the client gives up. */
  call(replica: Replica, method: string, path: string, body?: unknown, clientTimeoutMs?: number): Promise<Answer>;
  kill(replica: Replica): Promise<void>;
  start(replica: Replica): Promise<void>;
  close(): Promise<void>;
}

export async function startReplicaSet(options: { count: number; databaseUrl: string; dataDir: string; token: string; env: Record<string, string> }): Promise<ReplicaSet> {
  const target = new URL(options.databaseUrl);
  const replicas: Replica[] = [];
  for (let index = 0; index < options.count; index++) {
    const proxy = await startFaultProxy({ host: target.hostname, port: Number(target.port) });
    replicas.push({ index, proxy, incarnation: 0, up: false });
  }

  async function start(replica: Replica) {
    replica.service = await startServiceProcess({ databaseUrl: replica.proxy.urlFor(options.databaseUrl), dataDir: options.dataDir, env: options.env });
    replica.incarnation++;
    replica.up = true;
  }

  // The first one migrates the database; the others start together.
  await start(replicas[0]);
  await Promise.all(replicas.slice(1).map(start));

  return {
    replicas,
    pick(random) {
      const up = replicas.filter((r) => r.up);
      return up.length > 0 ? up[Math.floor(random() * up.length)] : undefined;
    },
    async call(replica, method, path, body, clientTimeoutMs = 30_000) {
      const incarnation = replica.incarnation;
      const startedAt = performance.now();
      const base = replica.service!.baseUrl;
      let status: Answer["status"];
      let json: any;
      try {
        const res = await fetch(base + path, {
          method,
          headers: { authorization: `Bearer ${options.token}`, ...(body ? { "content-type": "application/json" } : {}) },
          body: body ? JSON.stringify(body) : undefined,
          signal: AbortSignal.timeout(clientTimeoutMs),
        });
        const text = await res.text();
        status = res.status;
        json = text ? JSON.parse(text) : undefined;
      } catch (err) {
        status = (err as Error).name === "TimeoutError" ? "timeout" : "network";
      }
      const endedAt = performance.now();
      return { replica: replica.index, status, json, startedAt, endedAt, replicaDied: !replica.up || replica.incarnation !== incarnation };
    },
    async kill(replica) {
      replica.up = false;
      await replica.service?.stop("SIGKILL");
    },
    start,
    async close() {
      for (const r of replicas) r.proxy.thaw();
      await Promise.all(replicas.map((r) => r.service?.stop()));
      await Promise.all(replicas.map((r) => r.proxy.close()));
    },
  };
}

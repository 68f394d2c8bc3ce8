// The clients of a fault run, each recording what it did and saw for the history checker:
// check-and-set writers and readers over REST against random replicas, watchers that resume with
// their last event id (SSE and gRPC), and a webhook receiver.
import { randomBytes } from "node:crypto";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { digestOf, type DeliveryRecord, type ReadRecord, type WatchLog, type WriteRecord } from "./history-checker.js";
import type { Answer, Replica, ReplicaSet } from "./replica-set.js";
import { grpcWatch, sseWatch, type Watcher } from "./watchers.js";

/** Versions per path before the writers move to a new one: stays under `max_versions` (100), so every version can be read back. */
const versionsPerPath = 80;

/** Seeded so a failing run can be told apart from the next; Math.random would do as well. */
export function randomSource(seed: number): () => number {
  let s = seed >>> 0 || 1;
  return () => {
    s ^= s << 13;
    s ^= s >>> 17;
    s ^= s << 5;
    return (s >>> 0) / 2 ** 32;
  };
}

/** Paths are `<prefix>s<slot>/g<generation>`: a slot moves to its next path after `versionsPerPath` versions. */
export interface Workload {
  writes: WriteRecord[];
  reads: ReadRecord[];
  /** Every path any writer tried. */
  paths(): string[];
  stop(): Promise<void>;
}

export function startWorkload(options: { set: ReplicaSet; prefix: string; slots: number; writers: number; readers: number; seed: number; pauseMs: number }): Workload {
  const { set, prefix } = options;
  const writes: WriteRecord[] = [];
  const reads: ReadRecord[] = [];
  const generation = Array.from({ length: options.slots }, () => 0);
  const touched = new Set<string>();
  let stopped = false;
  const pathOf = (slot: number) => `${prefix}s${slot}/g${generation[slot]}`;
  const pause = () => new Promise((resolve) => setTimeout(resolve, options.pauseMs));
  const record = (a: Answer) => ({ replica: a.replica, status: a.status, startedAt: a.startedAt, endedAt: a.endedAt, replicaDied: a.replicaDied });

  async function read(replica: Replica, path: string): Promise<number | undefined> {
    const a = await set.call(replica, "GET", `/v1/secrets/${path}`);
    const version = a.status === 200 ? (a.json.version as number) : a.status === 404 && a.json?.error?.code === "secret_not_found" ? 0 : undefined;
    reads.push({ kind: "read", path, ...record(a), version, digest: a.status === 200 ? digestOf(a.json.data) : undefined });
    return version;
  }

  async function writer(w: number) {
    const random = randomSource(options.seed * 1000 + w);
    const known = new Map<string, number>();
    let n = 0;
    while (!stopped) {
      const replica = set.pick(random);
      if (!replica) {
        await pause();
        continue;
      }
      const slot = Math.floor(random() * options.slots);
      const path = pathOf(slot);
      touched.add(path);
      let cas = known.get(path);
      if (cas === undefined) {
        cas = await read(replica, path);
        if (cas === undefined) {
          await pause();
          continue;
        }
      }
      const data = { writer: String(w), n: String(n++), nonce: randomBytes(6).toString("hex") };
      const a = await set.call(replica, "PUT", `/v1/secrets/${path}`, { data, options: { cas, max_versions: 100 } });
      const acked = a.status === 200 || a.status === 201;
      writes.push({ kind: "write", path, cas, digest: digestOf(data), ...record(a), version: acked ? (a.json.version as number) : undefined });
      if (acked) {
        known.set(path, a.json.version);
        if (a.json.version >= versionsPerPath) generation[slot] = Math.max(generation[slot], Number(path.split("/g").pop()) + 1);
        // Another replica right away, as a second service acting on the first one's write would: the read its cache most likely gets wrong.
        const other = set.pick(random);
        if (other && other !== replica) await read(other, path);
      } else {
        known.delete(path); // read again before the next try
      }
      await pause();
    }
  }

  async function reader(r: number) {
    const random = randomSource(options.seed * 1000 + 500 + r);
    while (!stopped) {
      const replica = set.pick(random);
      if (replica) await read(replica, pathOf(Math.floor(random() * options.slots)));
      await pause();
    }
  }

  const running = Promise.all([...Array.from({ length: options.writers }, (_, w) => writer(w)), ...Array.from({ length: options.readers }, (_, r) => reader(r))]);
  return {
    writes,
    reads,
    paths: () => [...touched],
    async stop() {
      stopped = true;
      await running;
    },
  };
}

/** A watcher that survives its replica: when a stream ends it opens another on a replica that is up, resuming after its last event. */
export interface ResumingWatcher {
  /** Resolves when the first stream is live: no change committed after it is missed. */
  live: Promise<void>;
  log(): WatchLog;
  resumes(): number;
  stop(): void;
}

export function startResumingWatcher(options: { name: string; protocol: "sse" | "grpc"; set: ReplicaSet; token: string; prefix: string; seed: number }): ResumingWatcher {
  const random = randomSource(options.seed);
  const done: WatchLog["events"] = [];
  let current: Watcher | undefined;
  let stopped = false;
  let resumes = -1;
  let markLive!: () => void;
  const live = new Promise<void>((resolve) => (markLive = resolve));
  const events = () => [...done, ...(current?.events ?? [])];
  void (async () => {
    while (!stopped) {
      const replica = options.set.pick(random);
      if (replica) {
        const cursor = events().at(-1)?.event_id;
        resumes++;
        const w =
          options.protocol === "sse"
            ? sseWatch(replica.service!.baseUrl, options.token, { prefix: options.prefix, lastEventId: cursor })
            : grpcWatch(replica.service!.port, options.token, { prefix: options.prefix, cursor });
        current = w;
        void w.live.then(() => w.heartbeats > 0 && markLive());
        await w.ended;
        w.close();
        done.push(...w.events);
        current = undefined;
      }
      await new Promise((resolve) => setTimeout(resolve, 200));
    }
  })();
  return {
    live,
    log: () => ({ name: options.name, events: events().map(({ event_id, event_type, path, version }) => ({ event_id, event_type, path, version })) }),
    resumes: () => Math.max(0, resumes),
    stop() {
      stopped = true;
      current?.close();
    },
  };
}

/** An HTTP endpoint on 127.0.0.1 that answers 204 to every webhook delivery and keeps each. */
export async function startWebhookReceiver(): Promise<{ url: string; deliveries: DeliveryRecord[]; close(): Promise<void> }> {
  const deliveries: DeliveryRecord[] = [];
  const server: Server = createServer((req, res) => {
    let body = "";
    req.on("data", (chunk) => (body += chunk));
    req.on("end", () => {
      try {
        const event = JSON.parse(body);
        deliveries.push({ headerId: String(req.headers["webhook-id"]), bodyId: event.id, eventType: event.event_type, path: event.path, version: event.data?.version });
      } catch {
        deliveries.push({ headerId: String(req.headers["webhook-id"]), bodyId: "(unparsable)", eventType: "", path: "", version: 0 });
      }
      res.writeHead(204).end();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/hook`,
    deliveries,
    close: () => new Promise((resolve) => server.close(() => resolve())),
  };
}

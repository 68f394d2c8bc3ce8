// A TCP proxy between a replica and PostgreSQL that a test controls: it forwards bytes as they
// come, or adds latency, freezes every connection (nothing passes either way, nothing closes: a
// silent partition), or resets them all. Listens on 127.0.0.1 only.
import { createServer, Socket, type AddressInfo } from "node:net";

export interface FaultProxy {
  port: number;
  /** `url` with its host and port replaced by the proxy's. */
  urlFor(url: string): string;
  /** Holds every byte (and new connections' upstream connect) until `thaw`. */
  freeze(): void;
  /**
   * Holds every byte of the open connections whose first bytes from the client (PostgreSQL's
   * startup message, which names the user, database and `application_name`) contain `marker`,
   * until `thaw`; the others and new ones go on.
   */
  freezeWhere(marker: string): number;
  thaw(): void;
  /** Delays every chunk by `ms` from now on (0: none). */
  latency(ms: number): void;
  /** Resets every open connection (RST), as a crashed middlebox would. */
  resetAll(): void;
  /** Connections forwarded so far, and faults injected. */
  stats(): { connections: number; faults: number };
  close(): Promise<void>;
}

interface Pair {
  client: Socket;
  upstream?: Socket;
  /** The client's first chunk. */
  first?: Buffer;
  frozen?: boolean;
}

export async function startFaultProxy(target: { host: string; port: number }): Promise<FaultProxy> {
  const pairs = new Set<Pair>();
  let frozen = false;
  let delayMs = 0;
  let connections = 0;
  let faults = 0;
  /** What waits for the thaw: held chunks and upstream connects, in arrival order. */
  let held: (() => void)[] = [];

  const send = (pair: Pair, to: Socket | undefined, chunk: Buffer) => {
    const write = () => {
      if (to && !to.destroyed) to.write(chunk);
    };
    const deliver = () => (delayMs > 0 ? setTimeout(write, delayMs) : write());
    if (frozen || pair.frozen) held.push(deliver);
    else deliver();
  };

  const server = createServer((client) => {
    connections++;
    const pair: Pair = { client };
    pairs.add(pair);
    const early: Buffer[] = [];
    const end = () => {
      pairs.delete(pair);
      client.destroy();
      pair.upstream?.destroy();
    };
    client.on("error", end);
    client.on("close", end);
    client.on("data", (chunk) => {
      pair.first ??= chunk;
      if (pair.upstream) send(pair, pair.upstream, chunk);
      else early.push(chunk);
    });
    const open = () => {
      if (client.destroyed) return;
      const upstream = new Socket();
      pair.upstream = upstream;
      upstream.on("error", end);
      upstream.on("close", end);
      upstream.on("data", (chunk) => send(pair, client, chunk));
      upstream.connect(target.port, target.host);
      // Written before later chunks; the socket keeps them until it is connected.
      for (const chunk of early.splice(0)) send(pair, upstream, chunk);
    };
    if (frozen) held.push(open);
    else open();
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const port = (server.address() as AddressInfo).port;

  return {
    port,
    urlFor(url) {
      const u = new URL(url);
      u.hostname = "127.0.0.1";
      u.port = String(port);
      return u.toString();
    },
    freeze() {
      frozen = true;
      faults++;
    },
    freezeWhere(marker) {
      faults++;
      let matched = 0;
      for (const pair of pairs) {
        if (pair.first?.includes(marker)) {
          pair.frozen = true;
          matched++;
        }
      }
      return matched;
    },
    thaw() {
      frozen = false;
      for (const pair of pairs) pair.frozen = false;
      const waiting = held;
      held = [];
      for (const go of waiting) go();
    },
    latency(ms) {
      delayMs = ms;
      if (ms > 0) faults++;
    },
    resetAll() {
      faults++;
      for (const pair of [...pairs]) {
        pair.client.resetAndDestroy();
        pair.upstream?.resetAndDestroy();
        pairs.delete(pair);
      }
    },
    stats: () => ({ connections, faults }),
    async close() {
      for (const pair of pairs) {
        pair.client.destroy();
        pair.upstream?.destroy();
      }
      pairs.clear();
      held = [];
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
